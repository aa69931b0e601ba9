"""``concurrent.futures`` on Lithops: change one import and code written for ``ProcessPoolExecutor`` runs on any
backend.

::

    # from concurrent.futures import ProcessPoolExecutor, as_completed
    from lithops.concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor() as pool:
        futures = [pool.submit(pow, 2, n) for n in range(10)]
        print(sum(f.result() for f in as_completed(futures)))
        print(list(pool.map(abs, [-1, 2, -3])))

The executors are real :class:`concurrent.futures.Executor` subclasses and their futures real
:class:`concurrent.futures.Future` objects, so the standard ``wait``, ``as_completed`` and ``add_done_callback``
work on them (and on a mix with other executors' futures). Each call runs as a Lithops call: ``submit`` is one
``call_async``, ``map`` one Lithops ``map`` job for the whole input. A call that Lithops has handed to the backend
cannot be recalled, so futures are running as soon as ``submit`` returns and ``cancel()`` returns False.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    BrokenExecutor,
    CancelledError,
    Executor,
    InvalidStateError,
    TimeoutError,
    as_completed,
    wait,
)
from concurrent.futures import Future as _StdFuture
from typing import Any

from lithops import executors as _executors
from lithops.errors import SerializationError
from lithops.futures import ResponseFuture
from lithops.wait import ANY_COMPLETED
from lithops.wait import wait as lithops_wait

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "BrokenExecutor",
    "CancelledError",
    "Executor",
    "FunctionExecutor",
    "Future",
    "InvalidStateError",
    "LocalhostExecutor",
    "ProcessPoolExecutor",
    "ServerlessExecutor",
    "StandaloneExecutor",
    "ThreadPoolExecutor",
    "TimeoutError",
    "as_completed",
    "wait",
]

#: Longest round of an executor's watcher thread: calls submitted during a round are watched from the next one.
_WATCH_SEC = 0.1

#: Tokens of the initializers already run in this (worker) process.
_INITIALIZED: set[str] = set()


def _run(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
         init: tuple[str, Callable[..., Any], tuple[Any, ...]] | None) -> Any:
    """What each Lithops call runs: the executor's initializer once per worker process, then ``fn``."""
    if init is not None and init[0] not in _INITIALIZED:
        init[1](*init[2])
        _INITIALIZED.add(init[0])
    return fn(*args, **kwargs)


class Future(_StdFuture):
    """A :class:`concurrent.futures.Future` for one Lithops call; the Lithops future is :attr:`lithops_future`."""

    def __init__(self, lithops_future: ResponseFuture | None = None) -> None:
        super().__init__()
        self._lithops_future = lithops_future

    @property
    def lithops_future(self) -> ResponseFuture | None:
        """The Lithops ``ResponseFuture`` of the call."""
        return self._lithops_future

    @property
    def stats(self) -> dict[str, Any]:
        """The call's execution statistics (``ResponseFuture.stats``) once it has finished."""
        return self._lithops_future.stats if self._lithops_future is not None else {}


class FunctionExecutor(Executor):
    """A :class:`concurrent.futures.Executor` whose calls run on Lithops.

    Args:
        max_workers: how many calls may run at once (the Lithops ``max_workers``).
        executor: a ``lithops.FunctionExecutor`` to use instead of creating one; it is not closed on shutdown.
        initializer: called with ``initargs`` once in each worker process, before its first call (as in
            ``ProcessPoolExecutor``); if it raises, the call fails with its exception.
        initargs: arguments of ``initializer``.
        runtime_memory: MiB of memory for each call.
        extra_env: environment variables set for each call.
        execution_timeout: seconds each call may run.
        include_modules: modules to ship with the functions (``call_async``'s argument).
        exclude_modules: modules not to ship.
        mp_context, max_tasks_per_child, thread_name_prefix: the standard executors' arguments, accepted and
            ignored (Lithops manages its workers).
        **kwargs: arguments of ``lithops.FunctionExecutor`` (``config``, ``backend``, ``storage``, ...).
    """

    _executor_class: type[_executors.FunctionExecutor] = _executors.FunctionExecutor

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        executor: _executors.FunctionExecutor | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        runtime_memory: int | None = None,
        extra_env: dict[str, str] | None = None,
        execution_timeout: float | None = None,
        include_modules: list[str] | None = None,
        exclude_modules: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        for ignored in ("mp_context", "max_tasks_per_child", "thread_name_prefix"):
            kwargs.pop(ignored, None)
        self._owns_executor = executor is None
        if executor is None:
            kwargs.setdefault("log_level", None)
            executor = self._executor_class(max_workers=max_workers, **kwargs)
        elif kwargs:
            raise TypeError(f"{sorted(kwargs)} configure a new Lithops executor; they cannot be combined with "
                            f"executor=. Pass them to the lithops.FunctionExecutor you wrap instead.")
        self._inner = executor
        self._init = None if initializer is None else (uuid.uuid4().hex, initializer, tuple(initargs))
        self._job_options: dict[str, Any] = {"runtime_memory": runtime_memory, "extra_env": extra_env,
                                             "timeout": execution_timeout}
        if include_modules is not None:
            self._job_options["include_modules"] = include_modules
        if exclude_modules is not None:
            self._job_options["exclude_modules"] = exclude_modules
        self._lock = threading.Lock()
        self._pending: dict[Future, ResponseFuture] = {}
        self._shutdown = False
        self._closed = False
        self._watcher: threading.Thread | None = None
        self._news = threading.Event()

    @property
    def lithops_executor(self) -> _executors.FunctionExecutor:
        """The ``lithops.FunctionExecutor`` the calls go through."""
        return self._inner

    # -- the standard Executor API ------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` as one Lithops call; return its future."""
        with self._lock:
            self._check_open()
            try:
                lf = self._inner.call_async(_run, (fn, args, kwargs, self._init), **self._job_options)
            except SerializationError as exc:  # as in ProcessPoolExecutor: the future holds the pickling error
                return _failed(exc)
            return self._track([lf])[0]

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int | None = None, buffersize: int | None = None) -> Iterator[Any]:
        """Like ``Executor.map``: the results of ``fn`` over the inputs, in order; every call is submitted
        before this returns (at most ``buffersize`` ahead of the one being read, when given).

        The calls are one Lithops ``map`` job; ``chunksize`` is how many inputs each worker invocation takes
        (the configured ``chunksize`` when None).
        """
        if chunksize is not None and chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if buffersize is not None and (not isinstance(buffersize, int) or buffersize < 1):
            raise ValueError("buffersize must be None or an integer >= 1.")
        end = None if timeout is None else time.monotonic() + timeout
        inputs = zip(*iterables)  # noqa: B905 - stops at the shortest, as Executor.map does

        def submit_next(n: int | None) -> list[Future]:
            batch: list[Any] = [(fn, args, {}, self._init) for args in (inputs if n is None else _take(inputs, n))]
            if not batch:
                return []
            with self._lock:
                self._check_open()
                try:
                    lfs = self._inner.map(_run, batch, chunksize=chunksize, **self._job_options)
                except SerializationError as exc:  # raised when the results are read, as Executor.map does
                    return [_failed(exc)]
                return self._track(list(lfs))

        queue = collections.deque(submit_next(buffersize))

        def results() -> Iterator[Any]:
            while queue:
                future = queue.popleft()
                yield future.result(None if end is None else max(0.0, end - time.monotonic()))
                if buffersize is not None:
                    queue.extend(submit_next(buffersize - len(queue)))

        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new calls after this; with ``wait``, return once every call has finished. The Lithops executor
        is closed (unless it was passed in) once they have. ``cancel_futures`` is accepted: calls already
        handed to Lithops cannot be recalled.
        """
        with self._lock:
            self._shutdown = True
            outstanding = list(self._pending)
        if wait:
            self._close_when_done(outstanding)
        else:
            threading.Thread(target=self._close_when_done, args=(outstanding,), daemon=True,
                             name="lithops-cf-shutdown").start()

    # -- internals ----------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def _track(self, lfs: list[ResponseFuture]) -> list[Future]:
        """Pair each Lithops future with a standard one that the watcher thread completes. Called with the
        lock held.
        """
        futures = []
        for lf in lfs:
            future = Future(lf)
            future.set_running_or_notify_cancel()
            self._pending[future] = lf
            futures.append(future)
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, daemon=True, name="lithops-cf-watcher")
            self._watcher.start()
        self._news.set()
        return futures

    def _watch(self) -> None:
        """Complete the standard futures as their calls finish (``lithops.wait`` for any of them, in rounds of at
        most ``_WATCH_SEC`` so that calls submitted meanwhile join the next round), until the executor closes.
        """
        while True:
            self._news.wait()
            with self._lock:
                if self._closed:
                    return
                tracked = dict(self._pending)
                if not tracked:
                    self._news.clear()  # set again, under the lock, by the next _track
                    continue
            try:
                done, _ = lithops_wait(list(tracked.values()), throw_except=False, return_when=ANY_COMPLETED,
                                       timeout=_WATCH_SEC, show_progressbar=False)
            except TimeoutError:  # none finished in this round
                continue
            except Exception as exc:  # without the watcher nothing would ever complete them
                broken = BrokenExecutor(f"lost track of the Lithops calls: {exc!r}")
                with self._lock:
                    for future in tracked:
                        self._pending.pop(future, None)
                for future in tracked:
                    future.set_exception(broken)
                continue
            finished = {id(lf) for lf in done}
            ready = [(future, lf) for future, lf in tracked.items() if id(lf) in finished]
            with self._lock:
                for future, _ in ready:
                    self._pending.pop(future, None)
            for future, lf in ready:
                _complete(future, lf)

    def _close_when_done(self, outstanding: list[Future]) -> None:
        if outstanding:
            wait(outstanding)
        self._close()

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._news.set()
        if self._owns_executor:
            self._inner.close()


def _take(items: Iterator[Any], n: int) -> list[Any]:
    out = []
    for item in items:
        out.append(item)
        if len(out) == n:
            break
    return out


def _failed(exc: BaseException) -> Future:
    future = Future()
    future.set_running_or_notify_cancel()
    future.set_exception(exc)
    return future


def _complete(future: Future, lf: ResponseFuture) -> None:
    """Copy the outcome of a finished Lithops call to its standard future (the callbacks run here)."""
    try:
        value = lf.result(throw_except=False)
        exc = lf.exception() if lf.error else None
    except BaseException as error:  # reading the output failed (e.g. it cannot be unpickled here)
        value, exc = None, error
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
    except InvalidStateError:
        pass


class LocalhostExecutor(FunctionExecutor):
    """:class:`FunctionExecutor` on ``lithops.LocalhostExecutor`` (this machine's processes)."""

    _executor_class = _executors.LocalhostExecutor


class ServerlessExecutor(FunctionExecutor):
    """:class:`FunctionExecutor` on ``lithops.ServerlessExecutor`` (the configured serverless backend)."""

    _executor_class = _executors.ServerlessExecutor


class StandaloneExecutor(FunctionExecutor):
    """:class:`FunctionExecutor` on ``lithops.StandaloneExecutor`` (the configured VM backend)."""

    _executor_class = _executors.StandaloneExecutor


class ProcessPoolExecutor(FunctionExecutor):
    """The name to import in place of ``concurrent.futures.ProcessPoolExecutor``: calls run on the configured
    Lithops backend instead of local processes.
    """


class ThreadPoolExecutor(FunctionExecutor):
    """The name to import in place of ``concurrent.futures.ThreadPoolExecutor``: calls run on the configured
    Lithops backend (in other processes: they share no memory with the caller).
    """
