"""``lithops.future``: the name Lithops 3.x gives the futures module (``from lithops.future import
ResponseFuture``). Importing it gives :mod:`lithops.futures` itself, so the classes are the same objects.
"""

import sys

from lithops import futures

sys.modules[__name__] = futures
