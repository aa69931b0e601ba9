"""The loop of one warm worker process: receive batches of calls over a socket, run them, send statuses.

Started by :mod:`lithops_localhost.pool` as ``python -m lithops_localhost.worker_main FD PROGRESS_FD PARENT_PID``.
Messages are pickled tuples: ``("job", job_key, meta, function)``, ``("calls", job_key, [(call_id, data), ...])``,
``("forget", job_key)`` and ``("stop",)`` in; ``("results", [fields, ...])`` (each status's
``CallStatus.wire_fields()``, in the order the calls came) and, from a worker a call left in a state it cannot
undo, ``("retire", reason)`` out (the worker then exits and the pool starts another).
PROGRESS_FD is an 8-byte file, mapped by both sides, where the worker counts the calls it has started.

Only light standard modules are imported at the top: the first thing the process does is to make sure it dies
with the client (see :func:`_die_with_parent`), before the slower imports of the rest.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mmap
    from multiprocessing.connection import Connection

    from lithops.job.status import CallStatus

#: A finished call's status is sent at once if the call took longer than this (seconds) ...
SLOW_CALL_SEC = 0.005
#: ... otherwise statuses of quick calls are batched for at most this long.
FLUSH_SEC = 0.02


def _die_with_parent(parent: int | None) -> None:
    """Ask Linux to kill this process when the pool thread that started it goes away; exit at once if the
    client (``parent``) is already gone, as it may have died before the request was made.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # not glibc-like; the EOF on the socket still ends the loop
            pass
    if parent is not None and os.getppid() != parent:
        os._exit(0)  # re-parented: the client died while this process was starting


class Outbox:
    """Statuses on their way to the pool: sent together, but never held longer than FLUSH_SEC.

    A background thread sends what a quick call left behind while the next (maybe slow) call runs.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._items: list[tuple[Any, ...]] = []  # the statuses' wire fields
        self._since = 0.0
        self._pending = threading.Event()
        threading.Thread(target=self._flush_late, name="lithops-outbox", daemon=True).start()

    def add(self, status: CallStatus, urgent: bool) -> None:
        """Queue a status; send now if ``urgent`` or if the oldest queued one waited long enough."""
        with self._lock:
            if not self._items:
                self._since = time.monotonic()
            self._items.append(status.wire_fields())
            if urgent or time.monotonic() - self._since > FLUSH_SEC:
                self._send()
            else:
                self._pending.set()

    def flush(self, then: tuple[Any, ...] | None = None) -> None:
        """Send everything queued, and then the message ``then`` if given."""
        with self._lock:
            self._send()
            if then is not None:
                self._conn.send(then)

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


class _UnusableJob:
    """A job this worker could not set up: each of its calls fails with the reason."""

    def __init__(self, meta: dict[str, Any], key: str, exc: Exception) -> None:
        from lithops.errors import BackendError
        from lithops.job.status import encode_exception

        self.executor_id, self.job_id = meta.get("executor_id", ""), meta.get("job_id", "")
        self.exception = encode_exception(BackendError(
            f"the localhost worker could not set up job {key}: {type(exc).__name__}: {exc}"
        ))

    def run(self, call_id: str, data: bytes) -> CallStatus:
        from lithops.job.status import CallStatus

        return CallStatus(self.executor_id, self.job_id, call_id, success=False, exception=self.exception)


def serve(conn: Connection, progress: mmap.mmap | None = None) -> None:
    """Run calls until the driver says stop or goes away.

    ``progress``, shared with the pool, counts the calls started: if this process dies, the pool knows which call
    was running even when the statuses of quick calls before it were still held here to be sent together.
    After each call the process state is put back (:class:`lithops.worker.isolation.ProcessState`); a worker
    that cannot be put back sends its statuses, says why it retires, and returns.
    """
    from lithops.worker.calls import CallRunner
    from lithops.worker.isolation import ProcessState

    runners: dict[str, CallRunner | _UnusableJob] = {}
    outbox = Outbox(conn)
    state = ProcessState()
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
                broken = state.restore()
                outbox.add(status, urgent=took > SLOW_CALL_SEC)
                if broken is not None:
                    outbox.flush(then=("retire", f"call {call_id} of job {msg[1]} {broken}"))
                    return
            outbox.flush()
        elif kind == "job":
            try:
                runners[msg[1]] = CallRunner(msg[2], msg[3])
            except Exception as exc:  # a config the worker cannot use: fail the job's calls, not the worker
                runners[msg[1]] = _UnusableJob(msg[2], msg[1], exc)
        elif kind == "forget":
            runners.pop(msg[1], None)
        elif kind == "stop":
            return


def main() -> None:
    """Entry point: ``python -m lithops_localhost.worker_main FD PROGRESS_FD PARENT_PID``."""
    _die_with_parent(int(sys.argv[3]) if len(sys.argv) > 3 else None)
    import atexit
    import mmap
    import signal
    import traceback
    from multiprocessing.connection import Connection

    from lithops.local_state import register_worker
    from lithops.worker.calls import keep_output_captured

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    stderr = os.dup(2)  # calls' output goes to a file; this process's own errors go to the pool
    try:
        progress = mmap.mmap(int(sys.argv[2]), 8) if len(sys.argv) > 2 else None
        register_worker("localhost", python=sys.executable)  # for `lithops worker list`; removed at exit
        keep_output_captured()  # this process only runs calls: fds 1 and 2 stay on the capture file between them
        serve(Connection(int(sys.argv[1])), progress)
    except Exception:  # a bug in this loop: tell the pool why before dying
        os.write(stderr, traceback.format_exc().encode(errors="replace"))
        os._exit(1)
    # Exit now, without waiting for threads: a worker retires when a call left threads running, and those
    # must not keep it alive.
    atexit._run_exitfuncs()
    os._exit(0)


if __name__ == "__main__":
    main()
