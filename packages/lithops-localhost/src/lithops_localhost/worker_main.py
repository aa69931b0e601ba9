"""The loop of one warm worker process: receive batches of calls over a socket, run them, send statuses.

Started by :mod:`lithops_localhost.pool` as ``python -m lithops_localhost.worker_main FD [PROGRESS_FD]``.
Messages are pickled tuples: ``("job", job_key, meta, function)``, ``("calls", job_key, [(call_id, data), ...])``,
``("forget", job_key)`` and ``("stop",)`` in; ``("results", [CallStatus, ...])`` out. PROGRESS_FD is an 8-byte
file, mapped by both sides, where the worker counts the calls it has started.
"""

from __future__ import annotations

import ctypes
import mmap
import signal
import sys
import time
from multiprocessing.connection import Connection

from lithops.worker.calls import CallRunner

#: A finished call's status is sent at once if the call took longer than this (seconds) ...
SLOW_CALL_SEC = 0.005
#: ... otherwise statuses of quick calls are batched for at most this long.
FLUSH_SEC = 0.02


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the pool thread that started it goes away."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # not glibc-like; the EOF on the socket still ends the loop
            pass


def serve(conn: Connection, progress: mmap.mmap | None = None) -> None:
    """Run calls until the driver says stop or goes away.

    ``progress``, shared with the pool, counts the calls started: if this process dies, the pool knows which call
    was running even when the statuses of quick calls before it were still held here to be sent together.
    """
    runners: dict[str, CallRunner] = {}
    started = 0
    if progress is not None:
        progress[:8] = started.to_bytes(8, "little")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        kind = msg[0]
        if kind == "calls":
            runner = runners[msg[1]]
            out = []
            last_flush = time.monotonic()
            for call_id, data in msg[2]:
                started += 1
                if progress is not None:
                    progress[:8] = started.to_bytes(8, "little")
                status = runner.run(call_id, data)
                out.append(status)
                now = time.monotonic()
                took = status.stats.get("worker_end_tstamp", 0) - status.stats.get("worker_start_tstamp", 0)
                if took > SLOW_CALL_SEC or now - last_flush > FLUSH_SEC:
                    conn.send(("results", out))
                    out, last_flush = [], now
            if out:
                conn.send(("results", out))
        elif kind == "job":
            runners[msg[1]] = CallRunner(msg[2], msg[3])
        elif kind == "forget":
            runners.pop(msg[1], None)
        elif kind == "stop":
            return


def main() -> None:
    """Entry point: ``python -m lithops_localhost.worker_main FD [PROGRESS_FD]``."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    progress = mmap.mmap(int(sys.argv[2]), 8) if len(sys.argv) > 2 else None
    serve(Connection(int(sys.argv[1])), progress)


if __name__ == "__main__":
    main()
