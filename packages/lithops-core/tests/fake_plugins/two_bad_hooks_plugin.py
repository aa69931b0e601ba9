"""Each of its hooks fails in its own way; the storage hook even calls sys.exit()."""

import sys

from lithops.plugins import hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_compute_backends():
    raise RuntimeError("compute hook exploded")


@hookimpl
def lithops_storage_backends():
    sys.exit("storage hook exited")
