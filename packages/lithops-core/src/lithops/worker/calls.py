"""Runs the calls of one job inside a worker process. Used by every backend's worker, whatever the transport."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

from lithops.backends.helpers import write_all
from lithops.constants import WORKER_CONFIG_ENV, WORKER_ENV
from lithops.errors import ConfigError, FunctionTimeoutError, PayloadTooLargeError
from lithops.job import serialize
from lithops.job.job import job_key
from lithops.job.status import CallStatus, RemoteError, encode_exception
from lithops.local_state import move_call_log, open_call_log, running_log_path
from lithops.storage.chunks import ObjectChunk, file_opener, storage_opener, url_opener
from lithops.worker.context import in_process_call
from lithops.worker.isolation import CallEnvironment

try:  # signal's own functions without its wrappers, which try to make an enum of every handler (microseconds)
    from _signal import getsignal as _getsignal
    from _signal import signal as _setsignal
except ImportError:  # another Python implementation
    from signal import getsignal as _getsignal
    from signal import signal as _setsignal

try:
    import resource
except ImportError:  # not a POSIX system: no peak memory figures
    resource = None  # type: ignore[assignment]

MIB = 1024 * 1024
#: Largest captured output carried inline in a status (``CallStatus.logs``); beyond it only the end is kept.
INLINE_LOGS_LIMIT = 8 * MIB
#: While a call runs, what it prints is echoed (when asked) this often.
ECHO_INTERVAL_SEC = 0.1


class _CallTimeout(BaseException):
    """Raised into the running function when its time is up (a BaseException, so ``except Exception`` in
    user code does not swallow it).
    """


#: Whether a SIGALRM now is a call's time running out (set only while a call's timer is armed).
_alarm_armed = False


def _on_alarm(signum: int, frame: Any) -> None:
    if _alarm_armed:
        raise _CallTimeout()


class _TimeLimit:
    """Stops a call after ``seconds`` (None or 0: no limit) with a real-time timer, in the main thread of a
    process. The handler is installed for the call and the previous one put back after it, except in a process
    that only runs calls (:func:`keep_output_captured`), where it stays installed between calls (an alarm outside
    a call is ignored) and is put back only if a call replaced it.
    """

    __slots__ = ("_armed", "_previous", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = float(seconds) if seconds and hasattr(signal, "setitimer") else None
        self._armed = False
        self._previous: Any = None

    def __enter__(self) -> None:
        global _alarm_armed
        if self.seconds is None or threading.current_thread() is not threading.main_thread():
            return
        current = _getsignal(signal.SIGALRM)
        self._previous = _on_alarm if _CAPTURE.sticky else current
        if current is not _on_alarm:
            _setsignal(signal.SIGALRM, _on_alarm)
        self._armed = _alarm_armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        global _alarm_armed
        if not self._armed:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        self._armed = _alarm_armed = False
        if self._previous is not None and _getsignal(signal.SIGALRM) is not self._previous:
            _setsignal(signal.SIGALRM, self._previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])  # in case the function blocked it


def _libc_fflush() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None).fflush
    except (OSError, AttributeError, ImportError):  # no C library to ask (not a POSIX system)
        return None


#: C's ``fflush``: C extensions' ``printf`` output sits in the C library's buffer until flushed.
_FFLUSH = _libc_fflush()


def _flush_std(c_streams: bool = False) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # closed or replaced by the function; nothing to flush
            pass
    if c_streams and _FFLUSH is not None:
        _FFLUSH(None)


def _line_buffered() -> None:
    """Have ``print`` reach the descriptors line by line, so captured output keeps the order it was written in.

    A worker whose stdout is a pipe would otherwise hold prints back until its buffer fills.
    """
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and not getattr(stream, "line_buffering", True):
            try:
                stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):  # replaced by something that cannot do it
                pass


def _echo(fd: int, data: bytes, whole_lines: bool = True) -> int:
    """Copy a call's output to ``fd``; return how many bytes were copied. On a terminal, the rest of the line at
    the cursor is erased first, so a client's progress bar waiting there (:mod:`lithops.progress`) is replaced
    rather than glued to, and with ``whole_lines`` a partial last line waits until it is complete (the next frame
    of the bar would erase it).
    """
    tty = os.isatty(fd)
    if tty and whole_lines:
        data = data[:data.rfind(b"\n") + 1]
    if data:
        try:
            write_all(fd, b"\x1b[K" + data if tty else data)
        except OSError:  # the client's terminal or pipe is gone: the log file still has it
            pass
    return len(data)


class _OutputCapture:
    """Sends file descriptors 1 and 2 to a file while a call runs, so everything it prints is kept: Python's
    ``print``, C extensions, subprocesses, and the part written before a crash.

    One scratch file per process, reused while calls print nothing (a call that prints nothing costs a few system
    calls). The scratch of a worker logging to a folder is ``running_log_path(log_dir, pid)``: if the process
    is killed, the output of the call it was running is there. With echo, what the call prints is also copied
    to the process's own stdout: by a background thread every ECHO_INTERVAL_SEC while the call runs, and the
    rest when it ends.
    """

    def __init__(self) -> None:
        self.path: str | None = None  # None: an unnamed temporary file
        self.fd = -1
        self._atexit = False
        self._saved: tuple[int, int] | None = None  # copies of fds 1 and 2 while a call runs
        self._lock = threading.Lock()  # guards the three below, shared with the echo thread
        self._echoing = False
        self._echoed = 0  # bytes of the running call's output already echoed
        self._echo_thread: threading.Thread | None = None
        #: Leave fds 1 and 2 on the scratch file between calls (a process that only runs calls).
        self.sticky = False

    def _open(self, path: str | None) -> int:
        if self.fd >= 0 and self.path == path:
            return self.fd
        self.discard()
        if path is None:
            name = os.path.join(tempfile.gettempdir(), f"lithops-call-{os.getpid()}-{uuid.uuid4().hex[:8]}.log")
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            os.unlink(name)
        else:  # in the private state folder: mode 0600, no link followed
            fd = open_call_log(path)
        self.path, self.fd = path, fd
        if not self._atexit:
            atexit.register(self.discard)
            self._atexit = True
        return fd

    def discard(self) -> None:
        """Close and remove the scratch file."""
        if self.fd >= 0:
            os.close(self.fd)
            if self.path is not None:
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
        self.path, self.fd = None, -1

    def start(self, scratch: str | None, echo: bool) -> bool:
        """Point fds 1 and 2 at the scratch file (None: an unnamed one); False when that is not possible (the
        call then runs uncaptured).
        """
        _line_buffered()
        if self._saved is None or self.path != scratch or self.fd < 0:
            if self._saved is not None:  # sticky, but another scratch: start over with the process's own fds
                self._restore()
            try:
                fd = self.fd if self.fd >= 0 and self.path == scratch else self._open(scratch)
                _flush_std()
                saved_out = os.dup(1)
            except OSError:  # no stdout to replace, or no room for the file
                return False
            try:
                saved_err = os.dup(2)
            except OSError:
                os.close(saved_out)
                return False
            self._saved = (saved_out, saved_err)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        if echo:
            with self._lock:
                self._echoing, self._echoed = True, 0
            if self._echo_thread is None:
                self._echo_thread = threading.Thread(target=self._echo_loop, name="lithops-echo", daemon=True)
                self._echo_thread.start()
        return True

    def _restore(self) -> None:
        """Point fds 1 and 2 back at what they were before the call."""
        with self._lock:
            saved, self._saved = self._saved, None
        if saved is not None:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])

    def _echo_loop(self) -> None:
        """Copy what a long call prints to the process's stdout as it comes."""
        while True:
            time.sleep(ECHO_INTERVAL_SEC)
            with self._lock:
                if not self._echoing or self._saved is None:
                    continue
                try:
                    size = os.fstat(self.fd).st_size
                    if size > self._echoed:
                        self._echoed += _echo(self._saved[0], os.pread(self.fd, size - self._echoed, self._echoed))
                except OSError:
                    pass

    def stop(self, log_dir: str | None, call_id: str) -> bytes | None:
        """End a call's capture. Unless the process keeps its output captured (:func:`keep_output_captured`),
        fds 1 and 2 are restored. If the call printed: its output moves to ``<log_dir>/<call_id>.log`` (no
        ``log_dir``: it is returned, up to INLINE_LOGS_LIMIT) and, when echoing, what is left is copied to the
        process's own stdout.
        """
        assert self._saved is not None
        _flush_std(c_streams=True)
        with self._lock:
            echo, echoed = self._echoing, self._echoed
            self._echoing = False
        stdout = self._saved[0]
        if not self.sticky:
            self._restore()
            stdout = 1
        size = os.lseek(self.fd, 0, os.SEEK_END)  # writes append, so the end is the size (cheaper than fstat)
        if not size:
            return None
        if echo and size > echoed:
            _echo(stdout, os.pread(self.fd, size - echoed, echoed), whole_lines=False)
        if log_dir is None:
            start = max(0, size - INLINE_LOGS_LIMIT)
            data = os.pread(self.fd, size - start, start)
            os.ftruncate(self.fd, 0)
            return f"[first {start} bytes of output left out]\n".encode() + data if start else data
        scratch = self.path
        if scratch is not None:
            try:
                move_call_log(scratch, log_dir, call_id)
            except OSError:  # the logs folder was removed meanwhile (lithops clean): drop this output
                pass
            else:
                os.close(self.fd)
                self.path, self.fd = None, -1
                if self.sticky:  # a fresh scratch file for the next call
                    try:
                        fd = self._open(scratch)
                        os.dup2(fd, 1)
                        os.dup2(fd, 2)
                    except OSError:
                        self._restore()
                return None
        os.ftruncate(self.fd, 0)
        return None


_CAPTURE = _OutputCapture()


def keep_output_captured() -> None:
    """Declare this process a dedicated worker: fds 1 and 2 then stay on the capture file between calls instead
    of being restored after each (a call that prints nothing costs one system call). Whatever the process
    writes between calls is then counted as the next call's output, so only a process that does nothing but run
    calls (such as the localhost worker) should call this.
    """
    _CAPTURE.sticky = True


class _CapturedCall:
    """Captures what one call prints into its log (only in the main thread: fds 1 and 2 are per process)."""

    __slots__ = ("call_id", "capturing", "runner", "status")

    def __init__(self, runner: CallRunner, call_id: str, status: CallStatus) -> None:
        self.runner = runner
        self.call_id = call_id
        self.status = status
        self.capturing = False

    def __enter__(self) -> None:
        runner = self.runner
        if threading.current_thread() is not threading.main_thread():
            return
        if runner.capture_output:
            if runner.log_dir is not None and runner._scratch is None:
                runner._scratch = running_log_path(runner.log_dir, os.getpid())
            self.capturing = _CAPTURE.start(runner._scratch, runner.log_echo)
        elif _CAPTURE._saved is not None:  # kept captured between calls, but this job asks for no capture
            _CAPTURE._restore()

    def __exit__(self, *exc: object) -> None:
        if self.capturing:
            self.status.logs = _CAPTURE.stop(self.runner.log_dir, self.call_id)


class _WorkerEnvironment(CallEnvironment):
    """A job's environment variables around each of its calls, left set between them in a process that only runs
    calls (:func:`keep_output_captured`; its :class:`~lithops.worker.isolation.ProcessState` puts them back when
    anything changed).
    """

    __slots__ = ()

    def __enter__(self) -> None:
        self.apply()

    def __exit__(self, *exc: object) -> None:
        self.remove(keep=_CAPTURE.sticky)


class FollowedFutures:
    """What a worker returns when the function returned futures: their results, which the client expands
    into one done future each (so ``get_result`` follows them, as in Lithops).
    """

    def __init__(self, results: list[Any], single: bool) -> None:
        self.results = results
        self.single = single


def _follow_futures(value: Any) -> Any:
    futures = sys.modules.get("lithops.futures")  # not imported: there is no future to follow (no import per call)
    if futures is None:
        return value
    ResponseFuture = futures.ResponseFuture
    if isinstance(value, ResponseFuture):
        return FollowedFutures([value.result()], single=True)
    if isinstance(value, list) and value and all(isinstance(v, ResponseFuture) for v in value):
        from lithops.wait import get_result

        return FollowedFutures(get_result(value), single=False)
    return value


class _ProcessUsage:
    """Cheap readings of this process's resources for a call's stats (a few microseconds per call)."""

    def __init__(self) -> None:
        self.calls = 0  # calls this process has run
        self._statm: tuple[int, int] | None = None  # (pid, fd) of /proc/self/statm, reopened after a fork
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    @staticmethod
    def now() -> tuple[float, float, int | None]:
        """CPU seconds this process has used (user, system) and its peak resident memory in bytes (None where
        the platform cannot tell), in one system call.
        """
        if resource is None:
            times = os.times()
            return times.user, times.system, None
        usage = resource.getrusage(resource.RUSAGE_SELF)
        peak = usage.ru_maxrss
        return usage.ru_utime, usage.ru_stime, peak if sys.platform == "darwin" else peak * 1024

    def memory(self) -> tuple[int, int] | None:
        """``(rss, vms)`` of this process in bytes, from ``/proc`` (Linux); None elsewhere."""
        try:
            if self._statm is None or self._statm[0] != os.getpid():
                self._statm = (os.getpid(), os.open("/proc/self/statm", os.O_RDONLY))
            vms, rss = os.pread(self._statm[1], 128, 0).split()[:2]
        except (OSError, ValueError):
            return None
        return int(rss) * self._page, int(vms) * self._page


_USAGE = _ProcessUsage()


def _exit_as_error(exc: BaseException) -> RemoteError:
    """A function's own SystemExit/KeyboardInterrupt, as an ordinary error.

    Re-raised in the client as it is, it would end the client program or pass for the user's Ctrl-C.
    """
    error = RemoteError(type(exc).__qualname__, f"the function raised {type(exc).__name__}({exc})")
    error.__traceback__ = exc.__traceback__
    return error


class CallRunner:
    """Runs calls of one job: binds injected parameters, applies env and time limit, captures the outcome.

    Args:
        meta: the job fields a worker needs (see :meth:`lithops.job.JobRequest.worker_payload`).
        function: the pickled function.
        in_process: the calls run in the client's own process (an in-process backend): the process environment,
            file descriptors 1 and 2 and signals are left alone (no ``extra_env``, no captured output, no time
            limit), and the call learns that it runs in a worker, and its config, from its context
            (:mod:`lithops.worker.context`).
    """

    def __init__(self, meta: dict[str, Any], function: bytes, in_process: bool = False) -> None:
        self.executor_id: str = meta["executor_id"]
        self.job_id: str = meta["job_id"]
        self.inject: list[str] = list(meta.get("inject") or [])
        self.timeout: float | None = meta.get("execution_timeout")
        self.result_limit: int | None = meta.get("result_limit")
        self.config: dict[str, Any] = meta.get("config") or {}
        self.storage_backend: str = meta.get("storage_backend") or ""
        self.env = {**(meta.get("extra_env") or {}), WORKER_ENV: "1", WORKER_CONFIG_ENV: json.dumps(self.config)}
        self.host_submit_tstamp = meta.get("host_submit_tstamp")
        self.log_dir: str | None = meta.get("log_dir")
        self.log_echo = bool(meta.get("log_echo"))
        self.capture_output: bool = meta.get("capture_output", True) is not False and not in_process
        self.in_process = in_process
        self._refused: ConfigError | None = None
        if in_process and meta.get("extra_env"):
            backend = self.config.get("lithops", {}).get("backend")
            self._refused = ConfigError(
                f"extra_env cannot be applied to calls that run in the client's own process (backend '{backend}'): "
                f"environment variables belong to the whole process, so concurrent calls and the client would see "
                f"each other's. Pass the values as arguments, or use a backend whose workers are processes of "
                f"their own (such as localhost)."
            )
        self._scratch: str | None = None  # where this process's running call writes, when log_dir is set
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.activation_id = uuid.uuid4().hex[:12]  # this process running this job's calls (future.activation_id)
        self._function = function
        self._func: Any = None
        self._storage: Any = None
        self._environment = _WorkerEnvironment(self.env)
        self._time_limit = _TimeLimit(None if in_process else self.timeout)

    def _get_storage(self) -> Any:
        if self._storage is None:
            from lithops.storage.storage import Storage

            self._storage = Storage.for_worker(self.config, self.storage_backend)
        return self._storage

    def _bind_chunks(self, kwargs: dict[str, Any]) -> None:
        """Give data-map chunks (the ``obj``/``url`` argument) a way to read their bytes."""
        for value in kwargs.values():
            if not isinstance(value, ObjectChunk):
                continue
            if value.backend == "url":
                value.bind(url_opener(value.url or ""))
            elif value.backend == "file":
                value.bind(file_opener(value.path or ""))
            else:
                storage = self._get_storage()
                if value.backend != storage.backend:
                    from lithops.storage.storage import Storage

                    storage = Storage.for_worker(self.config, value.backend_class or "", value.backend)
                value.bind(storage_opener(storage.storage_handler, value.bucket or "", value.key or ""))

    def run(self, call_id: str, data: bytes) -> CallStatus:
        """Run one call and return its status with the pickled output inline (never raises)."""
        stats: dict[str, Any] = {"worker_start_tstamp": time.time(), "worker_id": self.worker_id,
                                 "activation_id": self.activation_id}
        if self.host_submit_tstamp:
            stats["host_submit_tstamp"] = self.host_submit_tstamp
        _USAGE.calls += 1
        stats["worker_calls"] = _USAGE.calls
        stats["worker_cold_start"] = _USAGE.calls == 1
        status = CallStatus(self.executor_id, self.job_id, call_id, success=False, stats=stats)
        try:
            with self._call_context(), _CapturedCall(self, call_id, status):
                if self._refused is not None:
                    raise self._refused
                if self._func is None:
                    self._func = serialize.loads(self._function)
                args, kwargs = serialize.loads(data)
                self._bind_chunks(kwargs)
                if "id" in self.inject and "id" not in kwargs:
                    kwargs["id"] = int(call_id)
                if "storage" in self.inject and "storage" not in kwargs:
                    kwargs["storage"] = self._get_storage()
                before = _USAGE.now()
                if before[2] is not None:
                    stats["worker_peak_memory_start"] = before[2]
                stats["worker_func_start_tstamp"] = time.time()
                try:
                    with self._time_limit:
                        value = self._func(*args, **kwargs)
                finally:
                    stats["worker_func_end_tstamp"] = time.time()
                    self._usage_stats(stats, before)
                value = _follow_futures(value)
                if isinstance(value, FollowedFutures):
                    stats["new_futures"] = len(value.results)  # tells the client to expand the results
            output = serialize.dump_result(value, call_id)
            if self.result_limit is not None and len(output) > self.result_limit:
                raise PayloadTooLargeError(
                    f"the result of call {call_id} is {len(output) / MIB:.1f} MiB, over lithops.result_limit of "
                    f"{self.result_limit / MIB:g} MiB. Write large results to storage and return their key, or "
                    f"raise result_limit in the config."
                )
            status.output = output
            status.success = True
            stats["worker_result_size"] = stats["func_result_size"] = len(output)
            stats["worker_result_upload_time"] = 0.0  # inline; the storage transport measures its upload
        except _CallTimeout:
            status.exception = encode_exception(FunctionTimeoutError(
                f"call {call_id} of job {job_key(self.executor_id, self.job_id)} exceeded its execution timeout of "
                f"{self.timeout:g} s and was stopped. Raise it with timeout=... or lithops.execution_timeout."
            ))
        except Exception as exc:  # the user's exception
            status.exception = encode_exception(exc)
        except BaseException as exc:  # sys.exit() or KeyboardInterrupt raised by the function itself
            status.exception = encode_exception(_exit_as_error(exc))
        stats["worker_end_tstamp"] = time.time()
        stats["worker_exec_time"] = stats["worker_end_tstamp"] - stats["worker_start_tstamp"]
        if "worker_func_start_tstamp" in stats and "worker_func_end_tstamp" in stats:
            stats["worker_func_exec_time"] = stats["worker_func_end_tstamp"] - stats["worker_func_start_tstamp"]
        peak = _USAGE.now()[2]
        if peak is not None:
            stats["worker_peak_memory_end"] = peak
            stats.setdefault("worker_peak_memory_start", peak)  # the function was not reached
        return status

    def _call_context(self) -> Any:
        """Where the call learns that it runs in a worker, and its config: the process environment (with
        ``extra_env``) in a worker process, the calling context in the client's process.
        """
        return in_process_call(self.config) if self.in_process else self._environment

    @staticmethod
    def _usage_stats(stats: dict[str, Any], before: tuple[float, float, int | None]) -> None:
        """CPU time the function used (this process's, user and system), as seconds and as a percentage of one
        CPU over its run; the process's memory right after it.
        """
        after = _USAGE.now()
        user, system = max(0.0, after[0] - before[0]), max(0.0, after[1] - before[1])
        stats["worker_func_cpu_user_time"] = user
        stats["worker_func_cpu_system_time"] = system
        wall = stats["worker_func_end_tstamp"] - stats["worker_func_start_tstamp"]
        stats["worker_func_cpu_usage"] = round(100 * (user + system) / wall, 2) if wall > 0 else 0.0
        memory = _USAGE.memory()
        if memory is not None:
            stats["worker_func_rss"], stats["worker_func_vms"] = memory
