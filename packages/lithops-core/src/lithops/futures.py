"""``ResponseFuture`` (one call) and ``FuturesList`` (the futures of a job, chainable)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from lithops.errors import JobCancelledError
from lithops.job import serialize
from lithops.job.status import CallStatus, decode_exception

if TYPE_CHECKING:
    from lithops.executors import FunctionExecutor
    from lithops.monitor import JobMonitor

#: Notified whenever any future of this process changes state; ``wait`` sleeps on it.
CHANGED = threading.Condition()


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
        monitor: JobMonitor | None = None,
        *,
        function_name: str = "",
        backend: str | None = None,
        runtime_name: str | None = None,
        runtime_memory: int | None = None,
        execution_timeout: float | None = None,
        storage_config: dict[str, Any] | None = None,
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
        self._state = ResponseFuture.State.New
        self._monitor = monitor
        self._storage_config = storage_config  # where a copy in another process reads the status from
        self._output: bytes | None = None
        self._result: Any = None
        self._exception: BaseException | None = None
        self._exception_bytes: bytes | None = None
        self._new_futures: list[ResponseFuture] | None = None
        self._produce_output = True
        self._read = False
        self._cancelled = False
        self._dependents: list[Any] | None = None
        self.stats: dict[str, Any] = {}

    # -- state -----------------------------------------------------------------------------------------
    @property
    def job_key(self) -> str:
        """``<executor_id>-<job_id>``."""
        return f"{self.executor_id}-{self.job_id}"

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

    # -- updates (called by the monitor) -----------------------------------------------------------------
    def _set_invoked(self) -> None:
        if self._state == ResponseFuture.State.New:
            self._state = ResponseFuture.State.Invoked

    def _set_status(self, status: CallStatus) -> None:
        """Record a call's outcome. Called with ``CHANGED`` held."""
        if self.finished:
            return
        stats = dict(status.stats)
        self.activation_id = stats.pop("activation_id", None) or self.activation_id
        self.stats.update(stats)
        self.stats.setdefault("host_status_query_count", 0)
        self.stats.setdefault("host_result_query_count", 0)
        self.stats["host_status_done_tstamp"] = time.time()
        if status.success:
            self._output = status.output
            if status.stats.get("new_futures"):
                self._expand_followed()
            else:
                self._state = ResponseFuture.State.Success
        else:
            self._exception_bytes = status.exception
            self._state = ResponseFuture.State.Error

    def _set_exception(self, exc: BaseException) -> None:
        """Fail the call with ``exc`` (cancellation, dead worker, failed dependency). Called with CHANGED held."""
        if self.finished:
            return
        self._exception = exc
        self._state = ResponseFuture.State.Error
        self.stats["host_status_done_tstamp"] = time.time()

    def _expand_followed(self) -> None:
        followed = serialize.loads(self._output or b"")
        children = []
        for i, value in enumerate(followed.results):
            child = ResponseFuture(self.executor_id, self.job_id, f"{self.call_id}.{i}",
                                   function_name=self.function_name, backend=self.backend)
            child._result = value
            child._state = ResponseFuture.State.Done
            child._produce_output = self._produce_output
            children.append(child)
        self._result = followed.results[0] if followed.single else followed.results
        self._new_futures = children
        self._state = ResponseFuture.State.Futures

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
        with CHANGED:
            if self._monitor is None and not self.finished:
                self._set_exception(error)
                CHANGED.notify_all()
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
        from lithops.wait import WAIT_DUR_SEC, wait

        wait([self], throw_except=False, timeout=timeout, show_progressbar=False,
             wait_dur_sec=WAIT_DUR_SEC if wait_dur_sec is None else wait_dur_sec)

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
        self._wait_finished(timeout, wait_dur_sec)
        with CHANGED:
            if self.error:
                if throw_except:
                    raise self.exception()  # type: ignore[misc]
                return None
            if self._state == ResponseFuture.State.Success:
                self._result = serialize.loads(self._output or b"")
                self._output = None
                self._state = ResponseFuture.State.Done
                self.stats["host_result_done_tstamp"] = time.time()
            return self._result

    # -- pickling: a future copied elsewhere keeps its state, not its executor ---------------------------
    def __getstate__(self) -> dict[str, Any]:
        with CHANGED:
            if self._monitor is not None:
                self._monitor.exported(self)  # its status must be readable from storage, and kept there
            state = dict(self.__dict__)
        state["_monitor"] = None
        state["_dependents"] = None
        if self._exception is not None:
            state["_exception"] = None
            from lithops.job.status import encode_exception

            state["_exception_bytes"] = encode_exception(self._exception)
        return state

    def __repr__(self) -> str:
        return f"<ResponseFuture {self.job_key}/{self.call_id} {self._state}>"


class FuturesList(list):  # type: ignore[type-arg]
    """The futures of a job. Chains further work: ``fexec.map(f, data).map(g).get_result()``."""

    def __init__(self, futures: Any = (), executor: FunctionExecutor | None = None,
                 config: dict[str, Any] | None = None) -> None:
        super().__init__(futures)
        self.executor = executor
        self.config = config

    def _get_executor(self) -> FunctionExecutor:
        if self.executor is None:
            from lithops.executors import FunctionExecutor

            self.executor = FunctionExecutor(config=self.config)
        return self.executor

    def _outputs(self) -> list[ResponseFuture]:
        return [f for f in self if f._produce_output]

    def _chain(self, new: list[ResponseFuture]) -> FuturesList:
        for f in self:
            f._produce_output = False
        self.extend(new)
        return self

    def map(self, map_function: Any, sync: bool = False, **kwargs: Any) -> FuturesList:
        """Map ``map_function`` over the results of these futures; returns this list, extended."""
        executor = self._get_executor()
        if sync:
            executor.wait(self._outputs())
        return self._chain(executor.map(map_function, self._outputs(), **kwargs))

    def map_reduce(self, map_function: Any, reduce_function: Any, sync: bool = False, **kwargs: Any) -> FuturesList:
        """Map then reduce over the results of these futures; returns this list, extended."""
        executor = self._get_executor()
        if sync:
            executor.wait(self._outputs())
        return self._chain(executor.map_reduce(map_function, self._outputs(), reduce_function, **kwargs))

    def wait(self, **kwargs: Any) -> tuple[list[ResponseFuture], list[ResponseFuture]]:
        """Wait for these futures (same arguments as ``FunctionExecutor.wait``)."""
        if self.executor is None:  # unpickled: no executor needed to wait
            from lithops.wait import wait

            return wait(self, **kwargs)
        return self.executor.wait(fs=self, **kwargs)

    def get_result(self, **kwargs: Any) -> Any:
        """Results of these futures (same arguments as ``FunctionExecutor.get_result``)."""
        if self.executor is None:
            from lithops.wait import get_result

            return get_result(self, **kwargs)
        return self.executor.get_result(fs=self, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the executor and its config (which may hold credentials): an unpickled list waits
        and reads results on its own, and chaining from it uses an executor with the discovered config.
        """
        return {k: v for k, v in self.__dict__.items() if k not in ("executor", "config")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.executor, self.config = None, None
