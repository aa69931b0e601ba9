"""``lithops.multiprocessing.errors``, as in Lithops: the exceptions of ``multiprocessing`` (the standard
library's classes, so ``except multiprocessing.TimeoutError`` and ``except errors.TimeoutError`` are the same).
"""

from multiprocessing import AuthenticationError, BufferTooShort, ProcessError, TimeoutError

__all__ = ["AuthenticationError", "BufferTooShort", "ProcessError", "TimeoutError"]
