"""``ResponseFuture`` (one call), ``FuturesList`` (the futures of a job) and waiting for them.

This module is a leaf of the kernel, as :mod:`concurrent.futures` is: it imports nothing that creates, updates
or submits futures. Each future has its own lock and the list of *waiters* installed on it: a status that
arrives touches only its future and wakes only the waits that are interested in it. The executor side (the
:class:`lithops.monitor.JobMonitor`) changes a future's state with :meth:`ResponseFuture.set_running`,
:meth:`ResponseFuture.set_status` and :meth:`ResponseFuture.set_exception`, and runs dependent work with
:meth:`ResponseFuture.add_done_callback`.
"""

from __future__ import annotations

import logging
import math
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from lithops import progress
from lithops.errors import JobCancelledError, WaitTimeoutError
from lithops.job import serialize
from lithops.job.job import job_key
from lithops.job.status import CallStatus, decode_exception, encode_exception

__all__ = ["FuturesList", "ResponseFuture"]

logger = logging.getLogger(__name__)

ALWAYS = 0
ANY_COMPLETED = -1
ALL_COMPLETED = 100

THREADPOOL_SIZE = 64
WAIT_DUR_SEC = 1


class Tracker(Protocol):
    """What keeps futures up to date (the executor's monitor), as the futures see it."""

    #: How many calls its executor's backend runs at once (None: unknown); for the progress bar.
    max_workers: int | None

    def fail(self, futures: list[ResponseFuture], exc: BaseException) -> None:
        """Fail these calls with ``exc`` unless they already finished."""

    def exported(self, future: ResponseFuture) -> StatusSource | None:
        """``future`` is being pickled: keep its status readable elsewhere; return where copies read it."""


class StatusSource(Protocol):
    """Where copies of futures unpickled in another process learn their calls' outcome."""

    def attach(self, futures: list[ResponseFuture], interval: float) -> None:
        """Have these futures updated from the source, reading it every ``interval`` seconds."""


class _Waiter:
    """Counts the finished futures of one wait and wakes its thread once enough have finished, or (with
    ``stop_on_error``) one has failed. Installed on the futures waited for; they call :meth:`add` once each,
    with their lock held, when they finish.
    """

    def __init__(self, total: int, return_when: Any, stop_on_error: bool) -> None:
        self.total = total
        self.finished = 0
        self.failed = 0
        self.first_error: ResponseFuture | None = None
        self.return_when = return_when
        self.stop_on_error = stop_on_error
        self._lock = threading.Lock()
        self._wake = threading.Lock()  # held until the waiter fires: a one-shot event without a Condition
        self._wake.acquire()
        self._fired = False
        if self._satisfied():
            self._fire()

    def add(self, future: ResponseFuture) -> None:
        """``future`` finished (those its call returned, already finished, are counted with it)."""
        with self._lock:
            self._count(future)
            if not self._fired and (self._satisfied() or (self.stop_on_error and self.first_error is not None)):
                self._fire()

    def _count(self, future: ResponseFuture) -> None:
        self.finished += 1
        if future.error:
            self.failed += 1
            if self.first_error is None:
                self.first_error = future
        for child in future.futures or ():
            self.total += 1
            self._count(child)

    def _satisfied(self) -> bool:
        return self.finished >= _needed(self.return_when, self.total)

    @property
    def satisfied(self) -> bool:
        """Enough of the futures have finished."""
        with self._lock:
            return self._satisfied()

    def _fire(self) -> None:
        self._fired = True
        self._wake.release()

    def sleep(self, timeout: float | None) -> None:
        """Block until the waiter fires or ``timeout`` seconds pass."""
        if self._wake.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            self._wake.release()  # stays fired for later calls

    def counts(self) -> tuple[int, int, int]:
        """``(finished, failed, total)`` so far."""
        with self._lock:
            return self.finished, self.failed, self.total


def _added(slot: Any, item: Any) -> Any:
    """``slot`` (None, one item or a list of items) with ``item`` added."""
    if slot is None:
        return item
    if isinstance(slot, list):
        slot.append(item)
        return slot
    return [slot, item]


def _items(slot: Any) -> list[Any]:
    """The items of a slot (see :func:`_added`)."""
    if slot is None:
        return []
    return slot if isinstance(slot, list) else [slot]


class _Layout(NamedTuple):
    """How the stats of a call's status are packed (one layout per set of keys, shared by the futures)."""

    keys: tuple[str, ...]  # of the packed values: the status's (but activation_id), then the client's on arrival
    skip: int  # position of activation_id among the status's keys (-1: absent); the future keeps it apart
    zeros: tuple[int, ...]  # values of the storage read counts the status does not carry


#: The client's keys on a status's arrival: storage reads for it (0 unless the status counted them) ...
_COUNTS = ("host_status_query_count", "host_result_query_count")
#: ... and when it arrived.
_ARRIVED = "host_status_done_tstamp"
#: Layouts by the keys of the status's stats, in their order; bounded (a backend whose calls report ever new
#: keys gets a layout per status instead).
_LAYOUTS: dict[tuple[str, ...], _Layout] = {}
_MAX_LAYOUTS = 256
#: The keys of the last status packed and their layout: the next status most likely has the same keys, which
#: comparing finds sooner than hashing (a status's key strings are new objects, their hashes not computed yet).
_last: tuple[tuple[str, ...], _Layout] | None = None

#: Values of stats kept packed (their keys apart, shared): pickled, or as they are if they do not pickle.
_Packed = bytes | tuple[Any, ...]


def _layout(stats: Mapping[str, Any]) -> _Layout:
    """The layout that packs stats with these keys."""
    global _last
    keys = tuple(stats)
    last = _last
    if last is not None and last[0] == keys:
        return last[1]
    layout = _LAYOUTS.get(keys)
    if layout is None:
        skip = keys.index("activation_id") if "activation_id" in stats else -1
        kept = keys if skip < 0 else keys[:skip] + keys[skip + 1:]
        missing = tuple(k for k in _COUNTS if k not in stats)
        layout = _Layout((*kept, *missing, _ARRIVED), skip, (0,) * len(missing))
        if len(_LAYOUTS) < _MAX_LAYOUTS:
            _LAYOUTS[keys] = layout
    _last = (keys, layout)
    return layout


def _arrival_record(stats: Mapping[str, Any]) -> tuple[tuple[str, ...], _Packed]:
    """The stats a status brings to its future, with the client's arrival keys (those not given), packed: their
    keys (shared by the statuses with the same keys) and their values.

    A dict of some 30 keys, with the float objects it holds, takes over a kilobyte per future; its keys are the
    same for every call and its values are a few hundred bytes pickled.
    """
    layout = _layout(stats)
    values = [*stats.values()]
    if layout.skip >= 0:
        del values[layout.skip]
    values += layout.zeros
    values.append(time.time())
    try:
        return layout.keys, pickle.dumps(values, pickle.HIGHEST_PROTOCOL)
    except Exception:  # a backend's own stat that does not pickle: kept as it is
        return layout.keys, tuple(values)


def _merge(stats: dict[str, Any], keys: tuple[str, ...], values: _Packed) -> None:
    """Add packed stats to ``stats`` (keys already there keep their place)."""
    stats.update(zip(keys, pickle.loads(values) if isinstance(values, bytes) else values, strict=True))


def _needed(return_when: Any, total: int) -> int:
    """How many of ``total`` futures must finish for a wait with ``return_when`` to return."""
    if return_when == ANY_COMPLETED:
        return min(1, total)
    if return_when == ALWAYS:
        return 0
    pct = float(return_when)
    if not 0 <= pct <= 100:
        raise ValueError(
            f"return_when must be ALWAYS, ANY_COMPLETED, ALL_COMPLETED or a percentage 0-100, got {return_when!r}."
        )
    return math.ceil(pct * total / 100)


class ResponseFuture:
    """The future of one call: its state, statistics and (once read) its result.

    The state flags follow Lithops 3.x (docs/user-guide.md#futures): ``running`` while the call is submitted
    and unfinished; then ``done`` (its status arrived; results arrive with it, as on Lithops's localhost);
    a failed call is ``error``, ``success`` and ``done`` at once, as in Lithops; ``ready`` is a call that
    returned futures whose results were not read yet. ``finished`` (the call ended, either way) is this
    project's own.
    """

    class State:
        """States a call goes through."""

        New = "New"
        Invoked = "Invoked"
        Success = "Success"  # status arrived, result not unpickled yet
        Futures = "Futures"
        Error = "Error"
        Done = "Done"

    def __init__(
        self,
        executor_id: str,
        job_id: str,
        call_id: str,
        monitor: Tracker | None = None,
        *,
        function_name: str = "",
        backend: str | None = None,
        runtime_name: str | None = None,
        runtime_memory: int | None = None,
        execution_timeout: float | None = None,
    ) -> None:
        self.executor_id = executor_id
        self.job_id = job_id
        self.call_id = call_id
        self.function_name = function_name
        self.backend = backend
        self.runtime_name = runtime_name
        self.runtime_memory = runtime_memory
        self.execution_timeout = execution_timeout
        #: Id of the worker invocation that ran the call (set when its status arrives).
        self.activation_id: str | None = None
        # Its stats (:attr:`stats`), kept packed until they are read: the client's when it submitted the call
        # (a dict shared by the futures of the job) and the size of its input, those that arrived with its outcome
        # (keys and values apart), and when its result was read. Once read, the dict is kept and updated instead.
        self._stats: dict[str, Any] | None = None
        self._submit_stats: Mapping[str, Any] | None = None
        self._data_size: int | None = None
        self._arrival_keys: tuple[str, ...] = ()
        self._arrival: _Packed = ()
        self._result_tstamp: float | None = None
        self._state = ResponseFuture.State.New
        self._monitor = monitor
        self._source: StatusSource | None = None  # where a copy in another process reads the status from
        self._output: bytes | None = None
        self._result: Any = None
        self._exception: BaseException | None = None
        self._exception_bytes: bytes | None = None
        self._new_futures: list[ResponseFuture] | None = None
        self._produce_output = True
        self._cancelled = False
        self._lock = threading.Lock()
        # None, one waiter (callback) or a list of them: most futures have at most one of each at a time
        self._waiters: _Waiter | list[_Waiter] | None = None
        self._callbacks: Callable[[ResponseFuture], object] | list[Callable[[ResponseFuture], object]] | None = None

    # -- state -----------------------------------------------------------------------------------------
    @property
    def job_key(self) -> str:
        """``<executor_id>-<job_id>``."""
        return job_key(self.executor_id, self.job_id)

    @property
    def new(self) -> bool:
        """Not handed to the backend yet (a job waiting for the futures it takes as input)."""
        return self._state == ResponseFuture.State.New

    @property
    def invoked(self) -> bool:
        """The call was handed to the backend and has not finished."""
        return self._state == ResponseFuture.State.Invoked

    @property
    def running(self) -> bool:
        """The call was handed to the backend and has not finished (queued calls included)."""
        return self._state == ResponseFuture.State.Invoked

    @property
    def ready(self) -> bool:
        """The call returned futures, whose results were not read yet."""
        return self._state == ResponseFuture.State.Futures

    @property
    def success(self) -> bool:
        """Lithops's "status read, result still to download", or failed. Results arrive here with their
        status, so, as on Lithops's localhost, only a failed call has it set.
        """
        return self._state == ResponseFuture.State.Error

    @property
    def error(self) -> bool:
        """The call failed."""
        return self._state == ResponseFuture.State.Error

    @property
    def done(self) -> bool:
        """The call's status (and result) arrived, or it failed."""
        return self._state in (ResponseFuture.State.Success, ResponseFuture.State.Done, ResponseFuture.State.Error)

    @property
    def finished(self) -> bool:
        """The call ended, successfully or not (its status arrived)."""
        return self._state not in (ResponseFuture.State.New, ResponseFuture.State.Invoked)

    @property
    def futures(self) -> list[ResponseFuture] | None:
        """The futures this call returned (it returned futures, which ``get_result`` follows), else None."""
        return self._new_futures

    @property
    def consumed(self) -> bool:
        """Its result feeds another job (chaining, ``map_reduce``): ``get_result`` does not return it."""
        return not self._produce_output

    @property
    def stats(self) -> dict[str, Any]:
        """The call's statistics (docs/protocol.md#stats-and-timestamps): the client's from its submission, then
        the worker's and the client's once it finished. The same dict from the first read on, updated in place.
        """
        stats = self._stats
        if stats is None:
            with self._lock:
                if self._stats is None:
                    self._stats = self._unpacked_stats()
                stats = self._stats
        return stats

    @stats.setter
    def stats(self, value: dict[str, Any]) -> None:
        with self._lock:
            self._stats = value

    def _unpacked_stats(self) -> dict[str, Any]:
        stats = dict(self._submit_stats or {})
        if self._data_size is not None:
            stats["func_data_size_bytes"] = self._data_size
        _merge(stats, self._arrival_keys, self._arrival)
        if self._result_tstamp is not None:
            stats["host_result_done_tstamp"] = self._result_tstamp
        return stats

    @property
    def monitor(self) -> Tracker | None:
        """What updates this future (its executor's monitor); None for a copy not attached to one yet."""
        return self._monitor

    # -- the executor's side: changing state ------------------------------------------------------------------
    def mark_consumed(self) -> None:
        """Its result goes to another job (see :attr:`consumed`)."""
        self._produce_output = False

    def set_submit_stats(self, job_stats: Mapping[str, Any], data_size: int) -> None:
        """Record the client's stats of the call's submission: ``job_stats``, those of its job (kept, not copied:
        the futures of a job share it, so it must not change afterwards), and the size of its input.
        """
        with self._lock:
            self._submit_stats, self._data_size = job_stats, data_size
            if self._stats is not None:
                self._stats.update(job_stats)
                self._stats["func_data_size_bytes"] = data_size

    def _arrived(self, keys: tuple[str, ...], values: _Packed) -> None:
        """Record the stats that came with the call's outcome (with the lock held)."""
        self._arrival_keys, self._arrival = keys, values
        if self._stats is not None:
            _merge(self._stats, keys, values)

    def attach(self, monitor: Tracker) -> None:
        """Have ``monitor`` update this future (a copy from another process), unless one does already."""
        with self._lock:
            if self._monitor is None:
                self._monitor = monitor

    def set_running(self) -> None:
        """The call was handed to the backend."""
        with self._lock:
            if self._state == ResponseFuture.State.New:
                self._state = ResponseFuture.State.Invoked

    def set_status(self, status: CallStatus) -> bool:
        """Record the call's outcome; return False if it had already finished.

        Raises whatever reading the outcome raises (calls that returned futures are expanded here), leaving the
        future unfinished: fail it then with :meth:`set_exception`.
        """
        with self._lock:
            if self.finished:
                return False
            stats = status.stats
            children = self._followed(status.output) if status.success and stats.get("new_futures") else None
            self.activation_id = stats.get("activation_id") or self.activation_id
            self._arrived(*_arrival_record(stats))
            if children is not None:
                self._new_futures = children
                self._state = ResponseFuture.State.Futures
            elif status.success:
                self._output = status.output
                self._state = ResponseFuture.State.Success
            else:
                self._exception_bytes = status.exception
                self._state = ResponseFuture.State.Error
            callbacks = self._finished_locked()
        self._run_callbacks(callbacks)
        return True

    def set_exception(self, exc: BaseException) -> bool:
        """Fail the call with ``exc`` (cancellation, dead worker, failed dependency); return False if it had
        already finished.
        """
        with self._lock:
            if self.finished:
                return False
            self._exception = exc
            self._state = ResponseFuture.State.Error
            self._arrived((_ARRIVED,), (time.time(),))
            callbacks = self._finished_locked()
        self._run_callbacks(callbacks)
        return True

    def add_done_callback(self, fn: Callable[[ResponseFuture], object]) -> None:
        """Call ``fn(future)`` once the call has finished: at once (in this thread) if it has, else in the
        thread that records its outcome, so ``fn`` must be quick. Exceptions it raises are logged.
        """
        with self._lock:
            if not self.finished:
                self._callbacks = _added(self._callbacks, fn)
                return
        self._run_callbacks([fn])

    def _followed(self, output: bytes | None) -> list[ResponseFuture]:
        """The finished futures of the results of futures that the call returned (the worker read them)."""
        followed = serialize.loads(output or b"")
        children = []
        for i, value in enumerate(followed.results):
            child = ResponseFuture(self.executor_id, self.job_id, f"{self.call_id}.{i}",
                                   function_name=self.function_name, backend=self.backend)
            child._result = value
            child._state = ResponseFuture.State.Done
            child._produce_output = self._produce_output
            children.append(child)
        self._result = followed.results[0] if followed.single else followed.results
        return children

    def _finished_locked(self) -> list[Callable[[ResponseFuture], object]]:
        """Tell the waiters (with the lock held); return the callbacks to run once it is released."""
        waiters, self._waiters = self._waiters, None
        for waiter in _items(waiters):
            waiter.add(self)
        callbacks, self._callbacks = self._callbacks, None
        return _items(callbacks)

    def _run_callbacks(self, callbacks: list[Callable[[ResponseFuture], object]]) -> None:
        for fn in callbacks:
            try:
                fn(self)
            except Exception:
                logger.exception("a done-callback of %r raised", self)

    def _add_waiter(self, waiter: _Waiter) -> None:
        with self._lock:
            if not self.finished:
                self._waiters = _added(self._waiters, waiter)
                return
            waiter.add(self)

    def _remove_waiter(self, waiter: _Waiter) -> None:
        with self._lock:
            if self._waiters is waiter:
                self._waiters = None
            elif isinstance(self._waiters, list) and waiter in self._waiters:
                self._waiters.remove(waiter)

    # -- cancelling ------------------------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Stop waiting for this call: it fails with :class:`lithops.errors.JobCancelledError` and jobs that
        take it as input fail too. Returns False when the call had already finished.

        The backend is not asked to stop the call (it may still run; its outcome is ignored). To stop all the
        unfinished calls of an executor, use ``fexec.clean(force=True)`` or leave its ``with`` block with Ctrl-C.
        """
        error = JobCancelledError(
            f"call {self.call_id} of job {self.job_key} was cancelled with future.cancel(); its outcome is ignored."
        )
        if self._monitor is not None:
            self._monitor.fail([self], error)
        else:
            self.set_exception(error)
        with self._lock:
            if self._exception is error:
                self._cancelled = True
            return self._cancelled

    def cancelled(self) -> bool:
        """Whether :meth:`cancel` stopped this call before it finished."""
        return self._cancelled

    # -- reading -------------------------------------------------------------------------------------------
    def _wait_finished(self, timeout: float | None = None, wait_dur_sec: float | None = None) -> None:
        if self.finished:
            return
        if self._monitor is None:
            _attach_copies([self], WAIT_DUR_SEC if wait_dur_sec is None else float(wait_dur_sec))
        waiter = _Waiter(1, ALL_COMPLETED, stop_on_error=False)
        self._add_waiter(waiter)
        waiter.sleep(timeout)
        if not self.finished:
            self._remove_waiter(waiter)
            raise _timeout_error(timeout or 0, 0, 1)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the call; return the exception it raised (with its remote traceback), or None."""
        self._wait_finished(timeout)
        if self._exception is None and self._exception_bytes is not None:
            self._exception = decode_exception(self._exception_bytes)
            self._exception_bytes = None
        return self._exception

    def logs(self, timeout: float | None = None) -> str:
        """Wait for the call; return what it printed (its stdout and stderr, interleaved), or ``''``.

        Also for a call that failed, timed out or whose worker died (on localhost, the output up to the crash).
        The output is kept on the client's machine until ``lithops clean`` (see docs/user-guide.md).
        """
        self._wait_finished(timeout)
        from lithops.local_state import read_call_log

        data = read_call_log(self.job_key, self.call_id)
        return data.decode("utf-8", errors="replace") if data else ""

    def status(
        self,
        throw_except: bool = True,
        internal_storage: Any = None,
        check_only: bool = False,
        wait_dur_sec: float | None = None,
    ) -> dict[str, Any] | None:
        """Wait for the call to finish and return its statistics; raise its exception if ``throw_except``.

        With ``check_only``, return at once: None while the call has not finished. ``wait_dur_sec`` is the
        interval between storage reads for a future copied from another process (others are told of their
        status as it arrives); ``internal_storage`` is accepted for compatibility.
        """
        if check_only and not self.finished:
            return None
        self._wait_finished(wait_dur_sec=wait_dur_sec)
        if self.error and throw_except:
            raise self.exception()  # type: ignore[misc]
        return self.stats

    def result(
        self,
        throw_except: bool = True,
        internal_storage: Any = None,
        retries: int | None = None,
        wait_dur_sec: float | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Wait for the call and return its result.

        A failed call raises its exception (with the worker's traceback as ``__cause__``), or returns None
        when ``throw_except`` is False. ``timeout`` (seconds) raises :class:`lithops.errors.WaitTimeoutError`
        when it expires. ``wait_dur_sec`` is as for :meth:`status`; ``internal_storage`` and ``retries`` are
        accepted for compatibility (results arrive with their status).
        """
        if self._state == ResponseFuture.State.Done:  # read already (get_result reads each result twice)
            return self._result
        self._wait_finished(timeout, wait_dur_sec)
        if self.error:
            if throw_except:
                raise self.exception()  # type: ignore[misc]
            return None
        with self._lock:
            if self._state == ResponseFuture.State.Success:
                self._result = serialize.loads(self._output or b"")
                self._output = None
                self._state = ResponseFuture.State.Done
                self._result_tstamp = time.time()
                if self._stats is not None:
                    self._stats["host_result_done_tstamp"] = self._result_tstamp
            return self._result

    # -- pickling: a future copied elsewhere keeps its state, not its executor ---------------------------
    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            source = self._source
            if self._monitor is not None:  # its status must be readable from storage, and kept there
                source = self._monitor.exported(self)
            state = dict(self.__dict__)
        for local in ("_lock", "_waiters", "_callbacks"):
            del state[local]
        state["_monitor"] = None
        state["_source"] = source
        if self._exception is not None:
            state["_exception"] = None
            state["_exception_bytes"] = encode_exception(self._exception)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._waiters = None
        self._callbacks = None

    def __repr__(self) -> str:
        return f"<ResponseFuture {self.job_key}/{self.call_id} {self._state}>"


def _attach_copies(futures: list[ResponseFuture], interval: float) -> None:
    """Have unfinished copies of futures made in another process (unpickled, attached to no monitor) learn
    their outcome from where the process that submitted the calls has them written
    (docs/user-guide.md#pickled-futures), reading it every ``interval`` seconds.

    Raises:
        JobCancelledError: a copy carries nowhere to read from (its future was not made by an executor).
    """
    groups: dict[int, tuple[StatusSource, list[ResponseFuture]]] = {}
    for f in futures:
        if f.monitor is not None or f.finished:
            continue
        if f._source is None:
            raise JobCancelledError(
                f"call {f.call_id} of job {f.job_key} is not finished and its future is not attached to an "
                f"executor or a storage to read its status from. Read it from the executor that made it."
            )
        groups.setdefault(id(f._source), (f._source, []))[1].append(f)
    for source, group in groups.values():
        source.attach(group, interval)


def outputs(futures: Iterable[ResponseFuture]) -> list[ResponseFuture]:
    """The futures whose results ``get_result`` returns, in order: neither consumed by another job nor
    replaced by the futures their call returned (those are in the list after them, once waited for).
    """
    return [f for f in futures if f._produce_output and f._new_futures is None]


def as_future_list(fs: ResponseFuture | Iterable[ResponseFuture] | None) -> list[ResponseFuture]:
    """``fs`` (a future, futures or None) as a list of futures."""
    if fs is None:
        return []
    if isinstance(fs, ResponseFuture):
        return [fs]
    return list(fs)


def _expand(fs: list[ResponseFuture]) -> list[ResponseFuture]:
    """Replace futures whose call returned futures by those futures (in place of their parent)."""
    if not any(f._new_futures for f in fs):
        return fs
    out: list[ResponseFuture] = []
    for f in fs:
        out.append(f)
        if f._new_futures:
            out.extend(_expand(f._new_futures))
    return out


def _timeout_error(timeout: float, finished: int, total: int) -> WaitTimeoutError:
    return WaitTimeoutError(
        f"timeout of {timeout:g} s exceeded waiting for calls to finish ({finished} of {total} done). The calls "
        f"keep running: wait again, or raise timeout."
    )


def wait(
    fs: ResponseFuture | Iterable[ResponseFuture] | None,
    internal_storage: Any = None,
    job_monitor: Any = None,
    throw_except: bool = True,
    return_when: Any = ALL_COMPLETED,
    download_results: bool = False,
    timeout: float | None = None,
    threadpool_size: int = THREADPOOL_SIZE,
    wait_dur_sec: float | None = None,
    show_progressbar: bool = True,
    futures_from_executor_wait: bool = False,
) -> tuple[FuturesList, FuturesList]:
    """Wait until ``return_when`` of the futures have finished; return ``(done, not_done)``.

    The parameters are those of Lithops 3.x, in its order.

    Args:
        fs: a future or futures, possibly from several executors, or copied (pickled) from another process.
        internal_storage: accepted for compatibility.
        job_monitor: accepted for compatibility.
        throw_except: re-raise the exception of the first failed call found.
        return_when: ``ALL_COMPLETED``, ``ANY_COMPLETED``, ``ALWAYS`` (check once) or a percentage.
        download_results: also read (deserialize) the results of the finished calls.
        timeout: seconds to wait at most; then :class:`lithops.errors.WaitTimeoutError` is raised and the
            calls keep running (their futures stay usable).
        threadpool_size: accepted for compatibility (statuses are pushed to futures: nothing to tune).
        wait_dur_sec: seconds between storage reads for futures copied from another process (default 1);
            other futures are told of their status as it arrives.
        show_progressbar: draw a progress bar on stderr while waiting, if it is a terminal
            (:mod:`lithops.progress`).
        futures_from_executor_wait: the progress bar counts only the calls unfinished when the wait started.
    """
    futures = as_future_list(fs)
    executor = getattr(fs, "executor", None)
    if not futures:
        return FuturesList(executor=executor), FuturesList(executor=executor)
    _needed(return_when, len(futures))  # a bad return_when fails before anything starts
    _attach_copies(futures, WAIT_DUR_SEC if wait_dur_sec is None else float(wait_dur_sec))
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    skipped = sum(1 for f in futures if f.finished) if futures_from_executor_wait else 0
    waiter = _Waiter(len(futures), return_when, stop_on_error=throw_except)
    for f in futures:
        f._add_waiter(waiter)
    try:
        with progress.progress_bar(len(futures), show_progressbar and return_when != ALWAYS) as bar:
            capacity = progress.capacity(futures) if bar is not None else None
            while True:
                if throw_except and waiter.first_error is not None:
                    raise waiter.first_error.exception()  # type: ignore[misc]
                if waiter.satisfied:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    finished, _, total = waiter.counts()
                    raise _timeout_error(float(timeout or 0), finished, total)
                if bar is not None:
                    waiter.sleep(progress.REFRESH_SEC if remaining is None else min(progress.REFRESH_SEC, remaining))
                    if bar.due():
                        finished, failed, total = waiter.counts()
                        bar.draw(finished - skipped, progress.running(futures, capacity), failed, total - skipped)
                else:
                    waiter.sleep(remaining)
            if bar is not None:
                finished, failed, total = waiter.counts()
                bar.draw(finished - skipped, progress.running(futures, capacity), failed, total - skipped,
                         final=True)
    finally:
        finished, _, total = waiter.counts()
        if finished < total:  # the unfinished futures forget this wait
            for f in futures:
                if not f.finished:
                    f._remove_waiter(waiter)
    futures = _expand(futures)
    done = [f for f in futures if f.finished]
    if download_results:
        for f in done:
            if not f.error:
                f.result(throw_except=False)
    return (FuturesList(done, executor=executor),
            FuturesList((f for f in futures if not f.finished), executor=executor))


def get_result(
    fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
    internal_storage: Any = None,
    throw_except: bool = True,
    timeout: float | None = None,
    threadpool_size: int = THREADPOOL_SIZE,
    wait_dur_sec: float | None = None,
    show_progressbar: bool = True,
) -> list[Any]:
    """Wait for the futures and return the list of their results, in call order.

    Futures whose call returned futures are replaced by the results of those; futures consumed by a later
    stage (``map_reduce``, chaining, futures passed as the input of another job) are skipped.
    The parameters are those of Lithops 3.x, in its order (see :func:`wait`).
    """
    done, _ = wait(as_future_list(fs), throw_except=throw_except, timeout=timeout, download_results=True,
                   wait_dur_sec=wait_dur_sec, show_progressbar=show_progressbar)
    return [f.result(throw_except=throw_except) for f in outputs(done)]


class Chainer(Protocol):
    """What a :class:`FuturesList` starts further work with: its executor (``lithops.FunctionExecutor``)."""

    def map(self, *args: Any, **kwargs: Any) -> FuturesList:
        """Run a function once per input (``map(map_function, map_iterdata, ...)``)."""

    def map_reduce(self, *args: Any, **kwargs: Any) -> FuturesList:
        """Map, then reduce the results (``map_reduce(map_function, map_iterdata, reduce_function, ...)``)."""

    def wait(self, *args: Any, **kwargs: Any) -> tuple[FuturesList, FuturesList]:
        """Wait for futures (``wait(fs, ...)``)."""

    def get_result(self, *args: Any, **kwargs: Any) -> Any:
        """Results of futures (``get_result(fs, ...)``)."""


class FuturesList(list):  # type: ignore[type-arg]
    """The futures of a job. Chains further work: ``fexec.map(f, data).map(g).get_result()``.

    Chaining hands the results of the futures not consumed yet to the executor that made them (a list
    unpickled in another process makes an executor of the same class, with the config found there).
    """

    def __init__(self, futures: Any = (), executor: Chainer | None = None,
                 config: dict[str, Any] | None = None) -> None:
        super().__init__(futures)
        self.executor = executor
        self.config = config

    def _get_executor(self) -> Chainer:
        if self.executor is None:
            factory = self.__dict__.get("_executor_class")
            if factory is None:
                raise TypeError(
                    "this FuturesList was not made by an executor, so it cannot start further work. Pass its "
                    "futures to one instead: fexec.map(func, futures)."
                )
            self.executor = factory(config=self.config)
        return self.executor

    def _stage(self, sync: bool) -> tuple[Chainer, list[ResponseFuture]]:
        executor = self._get_executor()
        inputs = [f for f in self if not f.consumed]
        if sync:
            executor.wait(inputs)
        return executor, inputs

    def map(self, map_function: Any, sync: bool = False, **kwargs: Any) -> FuturesList:
        """Map ``map_function`` over the results of these futures; returns this list, extended."""
        executor, inputs = self._stage(sync)
        self.extend(executor.map(map_function, inputs, **kwargs))
        return self

    def map_reduce(self, map_function: Any, reduce_function: Any, sync: bool = False, **kwargs: Any) -> FuturesList:
        """Map then reduce over the results of these futures; returns this list, extended."""
        executor, inputs = self._stage(sync)
        self.extend(executor.map_reduce(map_function, inputs, reduce_function, **kwargs))
        return self

    def wait(self, **kwargs: Any) -> tuple[FuturesList, FuturesList]:
        """Wait for these futures (same arguments as ``FunctionExecutor.wait``)."""
        if self.executor is None:  # unpickled: no executor needed to wait
            return wait(self, **kwargs)
        return self.executor.wait(fs=self, **kwargs)

    def get_result(self, **kwargs: Any) -> Any:
        """Results of these futures (same arguments as ``FunctionExecutor.get_result``)."""
        if self.executor is None:
            return get_result(self, **kwargs)
        return self.executor.get_result(fs=self, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the executor and its config (which may hold credentials), but with the executor's
        class (the nearest one of Lithops's own): an unpickled list waits and reads results on its own, and
        chaining from it makes an executor of that class with the config found where it is unpickled.
        """
        state = {k: v for k, v in self.__dict__.items() if k not in ("executor", "config")}
        if self.executor is not None:
            state["_executor_class"] = next(
                (c for c in type(self.executor).__mro__ if c.__module__.startswith("lithops.")), None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.executor, self.config = None, None
