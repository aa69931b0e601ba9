"""``RetryingFunctionExecutor``: map with automatic resubmission of failed calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lithops.executors import FunctionExecutor
from lithops.futures import ResponseFuture
from lithops.wait import ALL_COMPLETED, ANY_COMPLETED, wait


class RetryingFuture:
    """A call that is resubmitted when it fails, up to ``retries`` times.

    Args:
        response_future: the future of the first attempt.
        map_function: the function, for resubmission.
        input: the call's input, for resubmission.
        retries: how many times to resubmit after a failure.
        **kwargs: ``call_async`` options used for each resubmission.
    """

    def __init__(self, response_future: ResponseFuture, map_function: Callable[..., Any], input: Any,
                 retries: int | None = None, **kwargs: Any) -> None:
        self.response_future = response_future
        self.map_function = map_function
        self.input = input
        self.retries = retries or 0
        self.failure_count = 0
        self.map_kwargs = kwargs

    def _inc_failure_count(self) -> None:
        self.failure_count += 1

    def _should_retry(self) -> bool:
        return self.failure_count <= self.retries

    def _retry(self, function_executor: FunctionExecutor) -> None:
        self._inc_failure_count()
        if self._should_retry():
            self.response_future = function_executor.call_async(self.map_function, self.input, **self.map_kwargs)

    def cancel(self) -> None:
        """Not supported (as in Lithops)."""
        raise NotImplementedError("cannot cancel dispatched futures")

    def cancelled(self) -> bool:
        """Always False."""
        return False

    def running(self) -> bool:
        """Whether the current attempt is still running."""
        return self.response_future.running

    def done(self) -> bool:
        """Whether the current attempt finished (successfully or not)."""
        return self.response_future.finished

    def error(self) -> bool:
        """Whether the current attempt failed."""
        return self.response_future.error

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The current attempt's exception, if any."""
        return self.response_future.exception()

    def result(self, throw_except: bool = True, timeout: float | None = None) -> Any:
        """The current attempt's result."""
        return self.response_future.result(throw_except=throw_except, timeout=timeout)


class RetryingFunctionExecutor:
    """Wraps a FunctionExecutor so that failed map calls are resubmitted.

    Args:
        executor: the executor that runs the calls.
    """

    def __init__(self, executor: FunctionExecutor) -> None:
        self.executor = executor
        self.config = executor.config

    def __enter__(self) -> RetryingFunctionExecutor:
        self.executor.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.executor.__exit__(exc_type, exc_value, traceback)

    def map(self, map_function: Callable[..., Any], map_iterdata: Iterable[Any], *, retries: int | None = None,
            **kwargs: Any) -> list[RetryingFuture]:
        """Like ``FunctionExecutor.map``, returning RetryingFutures; ``retries`` defaults to
        ``lithops.retries`` of the config (0).
        """
        inputs = list(map_iterdata)
        futures = self.executor.map(map_function, inputs, **kwargs)
        if retries is None:
            retries = int(self.config.get("lithops", {}).get("retries", 0))
        call_kwargs = {k: v for k, v in kwargs.items()
                       if k in ("extra_env", "runtime_memory", "timeout", "include_modules", "exclude_modules")}
        return [RetryingFuture(f, map_function=map_function, input=i, retries=retries, **call_kwargs)
                for i, f in zip(inputs, futures, strict=True)]

    def wait(self, fs: list[RetryingFuture], throw_except: bool = True, return_when: Any = ALL_COMPLETED,
             show_progressbar: bool = True) -> tuple[set[RetryingFuture], set[RetryingFuture]]:
        """Wait for the calls, resubmitting failed ones while they have retries left.

        Returns ``(done, pending)`` sets. A call that failed on its last attempt is done; with
        ``throw_except`` its exception is raised.
        """
        pending = set(fs)
        done: set[RetryingFuture] = set()
        while pending:
            by_future = {rf.response_future: rf for rf in pending}
            finished, _ = wait(list(by_future), throw_except=False, return_when=ANY_COMPLETED,
                               show_progressbar=False)
            for f in finished:
                rf = by_future[f]
                if f.error:
                    rf._retry(self.executor)
                    if rf._should_retry():
                        continue
                    if throw_except:
                        raise f.exception()  # type: ignore[misc]
                pending.discard(rf)
                done.add(rf)
            if return_when == ANY_COMPLETED and done:
                break
        return done, pending
