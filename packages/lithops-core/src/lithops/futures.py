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
    """The future of one call: its state, statistics and (once read) its result."""

    class State:
        """States a call goes through, as in Lithops."""

        New = "New"
        Invoked = "Invoked"
        Success = "Success"
        Futures = "Futures"
        Error = "Error"
        Done = "Done"

    def __init__(self, executor_id: str, job_id: str, call_id: str, monitor: JobMonitor | None = None) -> None:
        self.executor_id = executor_id
        self.job_id = job_id
        self.call_id = call_id
        self._state = ResponseFuture.State.New
        self._monitor = monitor
        self._output: bytes | None = None
        self._result: Any = None
        self._exception: BaseException | None = None
        self._exception_bytes: bytes | None = None
        self._new_futures: list[ResponseFuture] | None = None
        self._produce_output = True
        self._read = False
        self._dependents: list[Any] | None = None
        self.stats: dict[str, Any] = {}

    # -- state -----------------------------------------------------------------------------------------
    @property
    def job_key(self) -> str:
        """``<executor_id>-<job_id>``."""
        return f"{self.executor_id}-{self.job_id}"

    @property
    def invoked(self) -> bool:
        """The call was handed to the backend."""
        return self._state == ResponseFuture.State.Invoked

    @property
    def running(self) -> bool:
        """The call is submitted and has not finished."""
        return self._state in (ResponseFuture.State.New, ResponseFuture.State.Invoked)

    @property
    def ready(self) -> bool:
        """The call finished successfully and its result has not been read yet."""
        return self._state in (ResponseFuture.State.Success, ResponseFuture.State.Futures)

    @property
    def success(self) -> bool:
        """The call finished without error."""
        return self._state in (ResponseFuture.State.Success, ResponseFuture.State.Futures, ResponseFuture.State.Done)

    @property
    def error(self) -> bool:
        """The call failed."""
        return self._state == ResponseFuture.State.Error

    @property
    def done(self) -> bool:
        """The result was read, or the call failed."""
        return self._state in (ResponseFuture.State.Done, ResponseFuture.State.Error)

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
        self.stats.update(status.stats)
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

    def _expand_followed(self) -> None:
        followed = serialize.loads(self._output or b"")
        children = []
        for i, value in enumerate(followed.results):
            child = ResponseFuture(self.executor_id, self.job_id, f"{self.call_id}.{i}")
            child._result = value
            child._state = ResponseFuture.State.Done
            child._produce_output = self._produce_output
            children.append(child)
        self._result = followed.results[0] if followed.single else followed.results
        self._new_futures = children
        self._state = ResponseFuture.State.Futures

    # -- reading -------------------------------------------------------------------------------------------
    def _wait_finished(self, timeout: float | None = None) -> None:
        if self.finished:
            return
        if self._monitor is None:
            raise JobCancelledError(
                f"call {self.call_id} of job {self.job_key} is not finished and this future is not attached to "
                f"its executor (it was copied to another process). Read it from the executor that made it."
            )
        from lithops.wait import wait

        wait([self], throw_except=False, timeout=timeout, show_progressbar=False)

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
        self, throw_except: bool = True, internal_storage: Any = None, check_only: bool = False
    ) -> dict[str, Any]:
        """Wait for the call to finish and return its statistics; raise its exception if ``throw_except``."""
        if check_only and not self.finished:
            return self.stats
        self._wait_finished()
        if self.error and throw_except:
            raise self.exception()  # type: ignore[misc]
        return self.stats

    def result(self, throw_except: bool = True, internal_storage: Any = None, timeout: float | None = None) -> Any:
        """Wait for the call and return its result.

        A failed call raises its exception (with the worker's traceback as ``__cause__``), or returns None
        when ``throw_except`` is False.
        """
        self._wait_finished(timeout)
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
        return self._get_executor().wait(fs=self, **kwargs)

    def get_result(self, **kwargs: Any) -> Any:
        """Results of these futures (same arguments as ``FunctionExecutor.get_result``)."""
        return self._get_executor().get_result(fs=self, **kwargs)
