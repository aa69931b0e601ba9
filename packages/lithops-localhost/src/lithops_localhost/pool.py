"""A pool of warm worker processes on this machine, fed by one dispatcher thread.

Each worker is a separate Python process connected by a socket pair. The dispatcher hands each worker small
batches of calls (larger when many calls wait, one at a time near the end of a job), keeps a record of which
calls each worker holds, and turns statuses into reports. Nothing is polled: the dispatcher sleeps in
``multiprocessing.connection.wait`` until a worker sends something or new work arrives.

Messages to a worker go through a writer thread of its own, so the dispatcher never blocks on a worker's
socket (a worker busy sending a large result does not read until it is done).

A worker that dies (SIGKILL, out of memory, a crash in native code) fails the call it was running with
:class:`lithops.errors.WorkerDiedError`; the calls queued behind it go back to the queue, and a new worker
takes its place. A worker that dies before it starts any call (an interpreter that cannot run the worker) is
replaced at most :data:`MAX_START_FAILURES` times per job; then the job's calls fail with the worker's last
lines on stderr. A call that overstays its timeout by more than :data:`KILL_GRACE_SEC` (native code that
ignores the in-process alarm) has its worker killed and is failed with FunctionTimeoutError.
"""

from __future__ import annotations

import atexit
import logging
import mmap
import os
import queue
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any

from lithops.backends.compute import StatusReporter
from lithops.backends.helpers import describe_exit, write_all
from lithops.errors import BackendError, FunctionTimeoutError, WorkerDiedError
from lithops.job.job import JobRequest, call_id_of
from lithops.job.status import CallStatus, encode_exception
from lithops.local_state import job_logs_dir, move_call_log, running_log_path

logger = logging.getLogger(__name__)

#: Seconds past a call's timeout before its worker is killed from outside.
KILL_GRACE_SEC = 5.0
#: Largest batch of calls sent to one worker at a time.
MAX_BATCH = 64
#: A batch stops growing at this many bytes of call data (a larger call travels alone).
BATCH_BYTES = 64 * 1024
#: What a worker's progress counter holds until the worker starts counting (one that cannot count stays so).
PROGRESS_UNKNOWN = 2**64 - 1
#: Workers of one job that may die before starting any call, in a row, before the job's calls are failed.
MAX_START_FAILURES = 3
#: How much of a worker's own stderr (not its calls' output, which is captured) is kept for error messages.
STDERR_TAIL_BYTES = 4096
STDERR_TAIL_LINES = 10

class _Job:
    def __init__(self, job: JobRequest, report: StatusReporter) -> None:
        self.request = job
        self.report = report
        self.meta = {
            **job.call_settings(),
            # each call's output goes to a file on this machine (kept if its worker dies), maybe echoed too
            "log_dir": job_logs_dir(job.job_key),
            "log_echo": bool((job.config.get("localhost") or {}).get("echo_output", True)),
        }
        self.next = 0
        self.requeued: deque[int] = deque()
        self.unfinished = job.total_calls
        self.cancelled = False
        self.start_failures = 0  # workers that died, in a row, before starting a call of this job
        self.failed: Exception | None = None  # set when the job's remaining calls were given up on

    def has_pending(self) -> bool:
        return (not self.cancelled and self.failed is None
                and (bool(self.requeued) or self.next < self.request.total_calls))

    def peek(self) -> int:
        return self.requeued[0] if self.requeued else self.next

    def take(self, n: int) -> list[int]:
        taken: list[int] = []
        size = 0
        data = self.request.call_data
        while len(taken) < n and self.has_pending():
            index = self.peek()
            size += len(data[index])
            if taken and size > BATCH_BYTES:
                break
            if self.requeued:
                self.requeued.popleft()
            else:
                self.next += 1
            taken.append(index)
        return taken


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, progress: mmap.mmap) -> None:
        self.proc = proc
        # Two descriptors of one socket: the dispatcher reads from ``conn``; ``_sock`` is written to by the
        # dispatcher (never blocking) and by the writer thread, which closes it.
        self.conn = Connection(os.dup(sock.fileno()))
        self._sock = sock
        self.progress = progress  # shared with the worker: how many calls it has started
        self.received = 0  # how many statuses it has sent us
        self.outstanding: deque[tuple[_Job, int]] = deque()
        self.jobs: set[str] = set()
        self.last_progress = time.monotonic()
        self.stderr = proc.stderr  # the worker's own errors (its calls' output goes to their logs)
        self.stderr_tail = bytearray()
        self.killed_by_pool: str | None = None  # why the pool killed it, if it did
        self.retired: str | None = None  # why the worker retired itself (a call left it unusable)
        self._outgoing: queue.SimpleQueue[tuple[bytes, memoryview, int] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._queued = 0  # messages handed to the writer thread (counted by the dispatcher) ...
        self._written = 0  # ... and how many of them it has finished with (counted by the writer)
        self._broken = False  # a send failed: the worker is gone, its EOF tells the dispatcher

    def send(self, data: memoryview) -> None:
        """Send a pickled message, never blocking: what the socket does not take at once (the worker is busy,
        maybe itself sending a large result) goes to the worker's writer thread, which sends it in order.
        """
        n = len(data)
        header = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)  # Connection's framing
        sent = 0
        if self._queued == self._written:  # nothing waiting before it
            try:
                sent = self._sock.sendmsg([header, data], [], socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass
            except OSError:
                self._broken = True
            if sent == len(header) + n or self._broken:
                return
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name=f"lithops-localhost-writer-{self.proc.pid}",
                                            daemon=True)
            self._writer.start()
        self._queued += 1
        self._outgoing.put((header, data, sent))

    def close_connection(self) -> None:
        """Close the dispatcher's descriptor now and the writing one once what is queued is sent (or the worker
        is gone).
        """
        self.conn.close()
        if self._writer is None:
            self._sock.close()
        else:
            self._outgoing.put(None)

    def _write_loop(self) -> None:
        while True:
            item = self._outgoing.get()
            if item is None:
                break
            header, data, sent = item
            if not self._broken:
                try:
                    if sent < len(header):
                        self._sock.sendall(header[sent:])
                        sent = len(header)
                    self._sock.sendall(data[sent - len(header):])
                except OSError:  # the worker is gone; the dispatcher learns it from the socket's EOF
                    self._broken = True
            self._written += 1
        self._sock.close()

    def running(self) -> int:
        """Position in ``outstanding`` of the call the worker started last and has not reported, -1 if none
        (also when the worker never got as far as counting: it failed to start).

        Not always 0: a worker holds the statuses of quick calls to send them together.
        """
        started = int.from_bytes(self.progress[:8], "little")
        if started == PROGRESS_UNKNOWN:
            return -1
        return started - 1 - self.received

    def read_stderr(self) -> None:
        """Pass on what the worker wrote to its stderr and keep the end of it (never blocks)."""
        if self.stderr is None:
            return
        fd = self.stderr.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the worker closed it (exited)
                self.stderr.close()
                self.stderr = None
                return
            try:
                write_all(2, data)
            except OSError:  # nowhere to pass it on to; the tail is still kept
                pass
            self.stderr_tail += data
            del self.stderr_tail[:-STDERR_TAIL_BYTES]

    def stderr_note(self) -> str:
        """The worker's last lines on stderr, as the end of an error message ("" if it wrote none)."""
        lines = [line for line in self.stderr_tail.decode(errors="replace").splitlines() if line.strip()]
        if not lines:
            return ""
        return " Its last lines on stderr:\n    " + "\n    ".join(lines[-STDERR_TAIL_LINES:])

    def runs_cancelled(self) -> bool:
        """Whether the call the worker is running belongs to a cancelled job."""
        running = self.running()
        return 0 <= running < len(self.outstanding) and self.outstanding[running][0].cancelled


def _message(*parts: object) -> memoryview:
    # multiprocessing's pickler writes into a growing buffer and returns a view of it: unlike pickle.dumps,
    # no copy of a large message at the end (about 0.6 ms per MiB)
    return ForkingPickler.dumps(parts)


_STOP = _message("stop")


#: Added to the error of a call whose worker died by itself (not stopped by the pool).
_MEMORY_HINT = " If it ran out of memory, use less per call or fewer worker_processes."


class LocalPool:
    """Warm worker processes that run the calls of submitted jobs.

    Args:
        size: number of worker processes.
        python: interpreter that runs the workers.
        env: environment of the workers.
        cwd: working directory of the workers.
    """

    def __init__(self, size: int, python: str, env: dict[str, str], cwd: str) -> None:
        self.size = size
        self.python = python
        self.env = env
        self.cwd = cwd
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._queue: deque[_Job] = deque()
        self._workers: list[_Worker] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._closing = False
        self._thread: threading.Thread | None = None

    # -- client side -----------------------------------------------------------------------------------
    def submit(self, job: JobRequest, report: StatusReporter) -> None:
        """Queue every call of ``job``; ``report`` receives each call's status."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the localhost pool is closed")
            state = _Job(job, report)
            self._jobs[job.job_key] = state
            self._queue.append(state)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lithops-localhost-pool", daemon=True)
                self._thread.start()
                _live_pools.add(self)
        self._wake()

    def cancel(self, job_keys: set[str]) -> None:
        """Drop the queued calls of these jobs and kill the workers running their calls."""
        with self._lock:
            for key in job_keys:
                state = self._jobs.pop(key, None)
                if state is not None:
                    state.cancelled = True
            for w in self._workers:
                if w.runs_cancelled():  # calls of other jobs queued in its batch would die with it
                    self._kill(w, "its call was cancelled")
        self._wake()

    def close(self, wait_calls: bool = True) -> None:
        """Stop the workers: at once, or once the queued and running calls are done (``wait_calls``)."""
        with self._lock:
            self._closing = True
            if not wait_calls:
                for state in self._jobs.values():
                    state.cancelled = True
                self._jobs.clear()
                self._queue.clear()
                for w in self._workers:
                    self._kill(w, "the pool was closed")
        self._wake()

    def stop_at_exit(self) -> None:
        """At interpreter exit: stop the calls still queued or running, saying how many there were."""
        with self._lock:
            jobs = [state for state in self._jobs.values() if not state.cancelled and state.unfinished > 0]
        if jobs:
            logger.warning(
                "%d call(s) still queued or running when the program ended were stopped (job(s) %s). Wait for "
                "their results (get_result() or wait()) before the program ends to keep them.",
                sum(state.unfinished for state in jobs), ", ".join(state.request.job_key for state in jobs),
            )
        self.close(wait_calls=False)

    @property
    def busy(self) -> bool:
        """Whether any call is queued or running."""
        with self._lock:
            return bool(self._jobs)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # -- dispatcher thread -------------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        parent, child = socket.socketpair()
        progress_file = tempfile.TemporaryFile()
        try:
            progress_file.write(PROGRESS_UNKNOWN.to_bytes(8, "little"))
            progress_file.flush()
            progress = mmap.mmap(progress_file.fileno(), 8)
            proc = subprocess.Popen(
                [self.python, "-m", "lithops_localhost.worker_main", str(child.fileno()), str(progress_file.fileno()),
                 str(os.getpid())],
                pass_fds=(child.fileno(), progress_file.fileno()), env=self.env, cwd=self.cwd,
                stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
            progress_file.close()
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        return _Worker(proc, parent, progress)

    def _kill(self, w: _Worker, reason: str) -> None:
        if w.killed_by_pool is None:
            w.killed_by_pool = reason
        try:
            w.proc.kill()
        except OSError:
            pass

    def _batch_size(self, waiting: int) -> int:
        return max(1, min(MAX_BATCH, waiting // (2 * max(1, len(self._workers)))))

    def _dispatch(self) -> None:
        """Top up every worker's batch (called with the lock held)."""
        while self._queue and not self._queue[0].has_pending():
            self._queue.popleft()
        if not self._queue:
            return
        if len(self._workers) < self.size:
            waiting = sum(s.request.total_calls - s.next + len(s.requeued) for s in self._queue)
            busy = sum(1 for w in self._workers if w.outstanding)
            for _ in range(min(self.size - len(self._workers), max(0, waiting - (len(self._workers) - busy)))):
                try:
                    self._workers.append(self._spawn())
                except OSError as exc:  # no file descriptors, memory or temporary space left
                    if self._workers:
                        logger.warning("could not start another localhost worker (%s); going on with %d",
                                       exc, len(self._workers))
                        break
                    self._fail_queued(BackendError(
                        f"cannot start a localhost worker process ({self.python}): {exc}. Check the machine's "
                        f"free memory, file descriptors (ulimit -n) and temporary disk space."
                    ))
                    return
        for w in sorted(self._workers, key=lambda w: len(w.outstanding)):
            while self._queue and not self._queue[0].has_pending():
                self._queue.popleft()
            if not self._queue:
                return
            waiting = sum(s.request.total_calls - s.next + len(s.requeued) for s in self._queue)
            size = self._batch_size(waiting)
            if len(w.outstanding) > size // 2:
                continue
            if w.retired is not None:
                continue
            state = self._queue[0]
            key = state.request.job_key
            if key not in w.jobs:
                try:
                    message = _message("job", key, state.meta, state.request.function)
                except Exception as exc:  # something in the job's config cannot be pickled
                    self._give_up(state, BackendError(
                        f"job {key} ({state.request.function_name}) cannot be sent to a localhost worker: "
                        f"{type(exc).__name__}: {exc}. Keep the config to plain values."
                    ))
                    continue
                w.send(message)
                w.jobs.add(key)
            indexes = state.take(size)
            data = state.request.call_data
            w.send(_message("calls", key, [(call_id_of(i), data[i]) for i in indexes]))
            if not w.outstanding:
                w.last_progress = time.monotonic()
            w.outstanding.extend((state, i) for i in indexes)

    def _fail(self, state: _Job, index: int, error: Exception) -> None:
        req = state.request
        self._finish(state, CallStatus(req.executor_id, req.job_id, call_id_of(index), success=False,
                                       exception=encode_exception(error)))

    def _fail_queued(self, error: Exception) -> None:
        """Fail every call that no worker holds yet."""
        for state in list(self._queue):
            indexes = [*state.requeued, *range(state.next, state.request.total_calls)]
            state.requeued.clear()
            state.next = state.request.total_calls
            for index in indexes:
                self._fail(state, index, error)
        self._queue.clear()

    def _give_up(self, state: _Job, error: Exception) -> None:
        """Fail the calls of a job that no worker holds, and those that workers give back later."""
        state.failed = error
        indexes = [*state.requeued, *range(state.next, state.request.total_calls)]
        state.requeued.clear()
        state.next = state.request.total_calls
        for index in indexes:
            self._fail(state, index, error)

    def _fail_everything(self, error: Exception) -> None:
        """Kill every worker and fail every unfinished call: the pool is left empty but usable."""
        for w in list(self._workers):
            self._kill(w, "the pool failed")
            w.close_connection()
            w.progress.close()
            self._workers.remove(w)
            for state, index in w.outstanding:
                self._fail(state, index, error)
        self._fail_queued(error)

    def _on_results(self, w: _Worker, statuses: list[tuple[Any, ...]]) -> None:
        """Statuses (their wire fields) of the calls the worker holds, in the order it got them."""
        w.last_progress = time.monotonic()
        w.received += len(statuses)
        for fields in statuses:
            state, _ = w.outstanding.popleft()
            state.start_failures = 0
            req = state.request
            self._finish(state, CallStatus.from_wire_fields(req.executor_id, req.job_id, fields))

    def _finish(self, state: _Job, status: CallStatus) -> None:
        state.unfinished -= 1
        if not state.cancelled:
            try:
                state.report(status)
            except Exception as exc:  # one call's status the client cannot take: fail that call only
                logger.exception("the status of call %s of job %s could not be reported", status.call_id,
                                 state.request.job_key)
                req = state.request
                try:
                    state.report(CallStatus(req.executor_id, req.job_id, status.call_id, success=False,
                                            exception=encode_exception(BackendError(
                                                f"the outcome of call {status.call_id} could not be handed to "
                                                f"the client: {type(exc).__name__}: {exc}"))))
                except Exception:  # already logged; the other calls go on
                    pass
        if state.unfinished <= 0:
            key = state.request.job_key
            self._jobs.pop(key, None)
            forget = None
            for w in self._workers:
                if key in w.jobs:
                    w.jobs.discard(key)
                    forget = forget or _message("forget", key)
                    w.send(forget)

    def _on_death(self, w: _Worker, error: Exception | None = None) -> None:
        try:
            returncode = w.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:  # its socket closed, yet it lives on: end it (its call still fails)
            w.proc.kill()
            w.proc.wait()
            returncode = None  # not "killed by SIGKILL": that was the pool
        w.read_stderr()  # what it wrote last is in the pipe now
        if w.stderr is not None:
            w.stderr.close()
        w.close_connection()
        self._workers.remove(w)
        running = w.running()
        w.progress.close()
        if w.retired is not None:
            logger.info("localhost worker (pid %d) replaced: %s", w.proc.pid, w.retired)
        outstanding = w.outstanding
        if not outstanding:
            return
        # Calls before the running one finished, but their statuses died with the worker: they run again.
        if 0 <= running < len(outstanding):
            state, index = outstanding[running]
            if error is not None or w.killed_by_pool is None or state.cancelled:
                del outstanding[running]
                _keep_partial_output(state, index, w.proc.pid)
                if error is None:
                    error = WorkerDiedError(
                        f"the worker process (pid {w.proc.pid}) running call {call_id_of(index)} of job "
                        f"{state.request.job_key} ({state.request.function_name}) {describe_exit(returncode)}. "
                        f"The other calls are not affected.{_MEMORY_HINT if returncode is not None else ''}"
                        f"{w.stderr_note()}"
                    )
                self._fail(state, index, error)
            # else: the pool killed it for a cancelled call just as it moved on to this one, which runs again
        elif w.retired is None and w.killed_by_pool is None:  # it died before starting the calls it held
            state, index = outstanding[0]
            state.start_failures += 1
            if state.start_failures >= MAX_START_FAILURES:
                self._give_up(state, WorkerDiedError(
                    f"the worker process (pid {w.proc.pid}) {describe_exit(returncode, during_call=False)} "
                    f"before it could run call {call_id_of(index)} of job {state.request.job_key} "
                    f"({state.request.function_name}), as did the {MAX_START_FAILURES - 1} before it; the job's "
                    f"remaining calls fail. Check that {self.python} can run the worker: it needs lithops-core, "
                    f"lithops-localhost and your dependencies (localhost.runtime).{w.stderr_note()}"
                ))
        for other, i in reversed(outstanding):
            if other.failed is not None:
                self._fail(other, i, other.failed)
                continue
            other.requeued.appendleft(i)
            if other not in self._queue:
                self._queue.appendleft(other)

    def _watchdog(self) -> None:
        now = time.monotonic()
        for w in list(self._workers):
            if not w.outstanding:
                continue
            if w.runs_cancelled():  # it got to a cancelled call that was queued behind another job's call
                self._kill(w, "its call was cancelled")
                continue
            state, index = w.outstanding[min(max(w.running(), 0), len(w.outstanding) - 1)]
            limit = state.request.execution_timeout + KILL_GRACE_SEC
            if now - w.last_progress > limit:
                self._kill(w, "its call overstayed the execution timeout")
                self._on_death(w, FunctionTimeoutError(
                    f"call {call_id_of(index)} of job {state.request.job_key} exceeded its execution timeout of "
                    f"{state.request.execution_timeout:g} s and its worker was killed. Raise it with timeout=... "
                    f"or lithops.execution_timeout."
                ))

    def _run(self) -> None:
        while True:
            try:
                if not self._serve_once():
                    break
            except Exception as exc:  # a bug here must not leave every wait hanging
                logger.exception("localhost pool failed")
                with self._lock:
                    self._fail_everything(BackendError(
                        f"the localhost worker pool failed ({type(exc).__name__}: {exc}); its unfinished calls "
                        f"were failed. Submit them again; please report this with the log's traceback."
                    ))
        self._stop_workers()

    def _serve_once(self) -> bool:
        """One round: dispatch, wait for messages, handle them. False once the pool is closed and idle."""
        with self._lock:
            if self._closing and not self._jobs:
                return False
            self._dispatch()
            conns: dict[object, _Worker] = {w.conn: w for w in self._workers}
            conns.update((w.stderr, w) for w in self._workers if w.stderr is not None)
        ready = wait([*conns, self._wake_r], timeout=1.0)  # type: ignore[list-item]
        with self._lock:
            for obj in ready:
                if obj is self._wake_r:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                w = conns[obj]
                if w not in self._workers:
                    continue
                if obj is not w.conn:
                    w.read_stderr()
                    continue
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    self._on_death(w)
                    continue
                if msg[0] == "retire":
                    w.retired = msg[1]
                    continue
                self._on_results(w, msg[1])
            self._watchdog()
        return True

    def _stop_workers(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for w in workers:
            w.send(_STOP)
            w.close_connection()
        deadline = time.monotonic() + 2
        for w in workers:
            try:
                w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill(w, "it did not stop when asked")
                w.proc.wait()
            w.read_stderr()
            if w.stderr is not None:
                w.stderr.close()
            w.progress.close()


_live_pools: weakref.WeakSet[LocalPool] = weakref.WeakSet()


@atexit.register
def _stop_pools_at_exit() -> None:
    for pool in list(_live_pools):
        pool.stop_at_exit()


def _keep_partial_output(state: _Job, index: int, pid: int) -> None:
    """Give the call a dead worker was running what it printed before dying, as its log."""
    log_dir = str(state.meta["log_dir"])
    scratch = running_log_path(log_dir, pid)
    try:
        if os.path.getsize(scratch):
            move_call_log(scratch, log_dir, call_id_of(index))
        else:
            os.unlink(scratch)
    except OSError:  # it printed nothing (no scratch file), or the logs folder is gone
        pass


def worker_environment(python: str) -> dict[str, str]:
    """The workers' environment: this one, plus this interpreter's import path when workers use it too."""
    env = dict(os.environ)
    paths = [p or os.getcwd() for p in sys.path] if python == sys.executable else [os.getcwd()]
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(paths + ([existing] if existing else []))
    return env


def ensure_python(python: str) -> str:
    """Resolve the configured interpreter, or raise an error that says what to configure."""
    from shutil import which

    from lithops.errors import ConfigError

    resolved = python if os.path.isabs(python) else which(python)
    if not resolved or not os.access(resolved, os.X_OK):
        raise ConfigError(
            f"localhost.runtime is {python!r}, which is not an executable Python interpreter here. Set it to a "
            f"path such as {sys.executable} or remove the key to use this interpreter."
        )
    return resolved

