"""Runs the calls of one job inside a worker process. Used by every backend's worker, whatever the transport."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lithops.constants import WORKER_CONFIG_ENV
from lithops.errors import FunctionTimeoutError, PayloadTooLargeError
from lithops.job import serialize
from lithops.job.status import CallStatus, RemoteError, encode_exception
from lithops.storage.chunks import ObjectChunk, file_opener, storage_opener, url_opener

WORKER_ENV = "LITHOPS_WORKER"
MIB = 1024 * 1024


class _CallTimeout(BaseException):
    """Raised into the running function when its time is up (a BaseException, so ``except Exception`` in
    user code does not swallow it).
    """


def is_lithops_worker() -> bool:
    """Whether this process is running Lithops calls."""
    return os.environ.get(WORKER_ENV) == "1"


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    usable = seconds and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _CallTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])  # in case the function blocked it


@contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class FollowedFutures:
    """What a worker returns when the function returned futures: their results, which the client expands
    into one done future each (so ``get_result`` follows them, as in Lithops).
    """

    def __init__(self, results: list[Any], single: bool) -> None:
        self.results = results
        self.single = single


def _follow_futures(value: Any) -> Any:
    from lithops.futures import ResponseFuture

    if isinstance(value, ResponseFuture):
        return FollowedFutures([value.result()], single=True)
    if isinstance(value, list) and value and all(isinstance(v, ResponseFuture) for v in value):
        from lithops.wait import get_result

        return FollowedFutures(get_result(value), single=False)
    return value


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
    """

    def __init__(self, meta: dict[str, Any], function: bytes) -> None:
        self.executor_id: str = meta["executor_id"]
        self.job_id: str = meta["job_id"]
        self.inject: list[str] = list(meta.get("inject") or [])
        self.timeout: float | None = meta.get("execution_timeout")
        self.result_limit: int | None = meta.get("result_limit")
        self.config: dict[str, Any] = meta.get("config") or {}
        self.storage_backend: str = meta.get("storage_backend") or ""
        self.env = {**(meta.get("extra_env") or {}), WORKER_ENV: "1", WORKER_CONFIG_ENV: json.dumps(self.config)}
        self.host_submit_tstamp = meta.get("host_submit_tstamp")
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._function = function
        self._func: Any = None
        self._storage: Any = None

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
        stats: dict[str, Any] = {"worker_start_tstamp": time.time(), "worker_id": self.worker_id}
        if self.host_submit_tstamp:
            stats["host_submit_tstamp"] = self.host_submit_tstamp
        status = CallStatus(self.executor_id, self.job_id, call_id, success=False, stats=stats)
        try:
            with _environment(self.env):
                if self._func is None:
                    self._func = serialize.loads(self._function)
                args, kwargs = serialize.loads(data)
                self._bind_chunks(kwargs)
                if "id" in self.inject and "id" not in kwargs:
                    kwargs["id"] = int(call_id)
                if "storage" in self.inject and "storage" not in kwargs:
                    kwargs["storage"] = self._get_storage()
                stats["worker_func_start_tstamp"] = time.time()
                try:
                    with _time_limit(self.timeout):
                        value = self._func(*args, **kwargs)
                finally:
                    stats["worker_func_end_tstamp"] = time.time()
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
            stats["worker_result_size"] = len(output)
        except _CallTimeout:
            status.exception = encode_exception(FunctionTimeoutError(
                f"call {call_id} of job {self.executor_id}-{self.job_id} exceeded its execution timeout of "
                f"{self.timeout:g} s and was stopped. Raise it with timeout=... or lithops.execution_timeout."
            ))
        except Exception as exc:  # the user's exception
            status.exception = encode_exception(exc)
        except BaseException as exc:  # sys.exit() or KeyboardInterrupt raised by the function itself
            status.exception = encode_exception(_exit_as_error(exc))
        stats["worker_end_tstamp"] = time.time()
        if "worker_func_start_tstamp" in stats and "worker_func_end_tstamp" in stats:
            stats["worker_func_exec_time"] = stats["worker_func_end_tstamp"] - stats["worker_func_start_tstamp"]
        return status
