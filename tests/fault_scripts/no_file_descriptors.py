"""Driver that leaves itself too few file descriptors to start a worker process, then maps.

Prints one line: the error type and message, or "NO ERROR". Must finish quickly rather than hang.
"""

import os
import resource
import sys

import lithops

fexec = lithops.FunctionExecutor(log_level=None)
in_use = len(os.listdir("/proc/self/fd"))
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + int(sys.argv[1]), hard))
try:
    print("RESULT", fexec.map(abs, [-1, -2]).get_result(timeout=30))
except Exception as exc:
    print(type(exc).__name__, exc)
