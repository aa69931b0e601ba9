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
import threading
import time
from multiprocessing.connection import Connection

from lithops.job.status import CallStatus
from lithops.local_state import register_worker
from lithops.worker.calls import CallRunner, keep_output_captured

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


class Outbox:
    """Statuses on their way to the pool: sent together, but never held longer than FLUSH_SEC.

    A background thread sends what a quick call left behind while the next (maybe slow) call runs.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._items: list[CallStatus] = []
        self._since = 0.0
        self._pending = threading.Event()
        threading.Thread(target=self._flush_late, name="lithops-outbox", daemon=True).start()

    def add(self, status: CallStatus, urgent: bool) -> None:
        """Queue a status; send now if ``urgent`` or if the oldest queued one waited long enough."""
        with self._lock:
            if not self._items:
                self._since = time.monotonic()
            self._items.append(status)
            if urgent or time.monotonic() - self._since > FLUSH_SEC:
                self._send()
            else:
                self._pending.set()

    def flush(self) -> None:
        """Send everything queued."""
        with self._lock:
            self._send()

    def _send(self) -> None:
        if self._items:
            self._conn.send(("results", self._items))
            self._items = []

    def _flush_late(self) -> None:
        while True:
            self._pending.wait()
            time.sleep(FLUSH_SEC)
            with self._lock:
                self._pending.clear()
                try:
                    self._send()
                except OSError:  # the pool is gone; the main loop notices and exits
                    return


def serve(conn: Connection, progress: mmap.mmap | None = None) -> None:
    """Run calls until the driver says stop or goes away.

    ``progress``, shared with the pool, counts the calls started: if this process dies, the pool knows which call
    was running even when the statuses of quick calls before it were still held here to be sent together.
    """
    runners: dict[str, CallRunner] = {}
    outbox = Outbox(conn)
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
            for call_id, data in msg[2]:
                started += 1
                if progress is not None:
                    progress[:8] = started.to_bytes(8, "little")
                status = runner.run(call_id, data)
                took = status.stats.get("worker_end_tstamp", 0) - status.stats.get("worker_start_tstamp", 0)
                outbox.add(status, urgent=took > SLOW_CALL_SEC)
            outbox.flush()
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
    register_worker("localhost", python=sys.executable)  # for `lithops worker list`; removed at exit
    keep_output_captured()  # this process only runs calls: fds 1 and 2 stay on the capture file between them
    serve(Connection(int(sys.argv[1])), progress)


if __name__ == "__main__":
    main()
