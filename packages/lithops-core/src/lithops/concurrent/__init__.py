"""``lithops.concurrent``: the standard library's ``concurrent`` package on Lithops (see :mod:`.futures`)."""
