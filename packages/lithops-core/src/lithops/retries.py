"""``RetryingFunctionExecutor``: map with automatic resubmission of failed calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lithops.executors import FunctionExecutor
from lithops.futures import ResponseFuture
from lithops.storage.utils import CloudObject
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED, THREADPOOL_SIZE, WAIT_DUR_SEC


class RetryingFuture:
    """A call that is resubmitted when it fails, up to ``retries`` times.

    Of the current attempt's future it reads only what Lithops's ``ResponseFuture`` has: ``done``, ``error``,
    ``stats``, ``status()`` and ``result()``, so it wraps any future of that shape. Subclasses may override
    ``_inc_failure_count`` and ``_should_retry``, as in Lithops.

    Args:
        response_future: the future of the first attempt.
        map_function: the function, for resubmission.
        input: the call's input, for resubmission.
        retries: how many times to resubmit after a failure.
        **kwargs: ``map`` options used for each resubmission.
    """

    def __init__(self, response_future: ResponseFuture | Any, map_function: Callable[..., Any], input: Any,
                 retries: int | None = None, **kwargs: Any) -> None:
        self.response_future = response_future
        self.map_function = map_function
        self.input = input
        self.retries = retries or 0
        self.map_kwargs = kwargs
        self.failure_count = 0
        self.cancelled = False

    def _inc_failure_count(self) -> None:
        """Count one more failed attempt."""
        self.failure_count += 1

    def _should_retry(self) -> bool:
        """Whether to resubmit after a failed attempt: not cancelled, and retries left."""
        return not self.cancelled and self.failure_count <= self.retries

    def _retry(self, function_executor: FunctionExecutor) -> None:
        self.response_future = function_executor.map(self.map_function, [self.input], **self.map_kwargs)[0]

    def cancel(self) -> None:
        """Make no further attempts (an attempt already running is not stopped)."""
        self.cancelled = True

    @property
    def done(self) -> bool:
        """Whether the current attempt finished, successfully or not."""
        return bool(self.response_future.done)

    @property
    def error(self) -> bool:
        """Whether the current attempt failed."""
        return self.response_future.error

    @property
    def stats(self) -> dict[str, Any]:
        """Statistics of the current attempt."""
        return self.response_future.stats

    def _reraise_if_error(self) -> None:
        if self.response_future.error:
            self.response_future.result(throw_except=True)  # raises the attempt's exception

    def exception(self) -> BaseException | None:
        """The current attempt's exception (waits for it), or None."""
        try:
            self.result()
        except Exception as exc:
            return exc
        return None

    def status(self, throw_except: bool = True, internal_storage: Any = None, check_only: bool = False) -> Any:
        """Statistics of the current attempt (waits for it). A failed attempt's exception is raised, as in
        Lithops, whatever ``throw_except`` says.
        """
        stats = self.response_future.status(throw_except=throw_except, internal_storage=internal_storage,
                                            check_only=check_only)
        self._reraise_if_error()
        return stats

    def result(self, throw_except: bool = True, internal_storage: Any = None) -> Any:
        """The current attempt's result (waits for it). A failed attempt's exception is raised, as in Lithops,
        whatever ``throw_except`` says.
        """
        value = self.response_future.result(throw_except=throw_except, internal_storage=internal_storage)
        self._reraise_if_error()
        return value


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

    def _retries_to_use(self, retries: int | None) -> int:
        """The retry budget of a ``map``: its ``retries``, else ``lithops.retries`` of the (validated) config."""
        if retries is not None:
            return retries
        return int(self.config["lithops"]["retries"])

    def map(
        self,
        map_function: Callable[..., Any],
        map_iterdata: Iterable[Any],
        chunksize: int | None = None,
        extra_args: Any = None,
        extra_env: dict[str, str] | None = None,
        runtime_memory: int | None = None,
        obj_chunk_size: int | None = None,
        obj_chunk_number: int | None = None,
        obj_newline: str | None = "\n",
        timeout: float | None = None,
        include_modules: list[str] | None = [],  # noqa: B006 - Lithops' signature
        exclude_modules: list[str] | None = [],  # noqa: B006
        retries: int | None = None,
    ) -> list[RetryingFuture]:
        """Like ``FunctionExecutor.map``, returning one RetryingFuture per input.

        ``retries`` defaults to ``lithops.retries`` of the config (0).
        """
        inputs = list(map_iterdata)
        options: dict[str, Any] = dict(
            chunksize=chunksize, extra_args=extra_args, extra_env=extra_env, runtime_memory=runtime_memory,
            obj_chunk_size=obj_chunk_size, obj_chunk_number=obj_chunk_number, obj_newline=obj_newline,
            timeout=timeout, include_modules=include_modules, exclude_modules=exclude_modules,
        )
        retries = self._retries_to_use(retries)
        futures = self.executor.map(map_function, inputs, **options)
        return [RetryingFuture(f, map_function=map_function, input=i, retries=retries, **options)
                for i, f in zip(inputs, futures, strict=True)]

    def wait(
        self,
        fs: list[RetryingFuture],
        throw_except: bool = True,
        return_when: Any = ALL_COMPLETED,
        download_results: bool = False,
        timeout: float | None = None,
        threadpool_size: int = THREADPOOL_SIZE,
        wait_dur_sec: float = WAIT_DUR_SEC,
        show_progressbar: bool = True,
    ) -> tuple[list[RetryingFuture], list[RetryingFuture]]:
        """Wait for the calls, resubmitting failed ones while they have retries left; return ``(done, pending)``.

        A call that failed on its last attempt counts as done; with ``throw_except`` its exception is raised.
        ``return_when`` is ALL_COMPLETED, ANY_COMPLETED or ALWAYS (check once, resubmit what failed).
        """
        pending = list(fs)
        done: list[RetryingFuture] = []
        while pending:
            by_future = {rf.response_future: rf for rf in pending}
            finished, _ = self.executor.wait(
                list(by_future), throw_except=False, return_when=ALWAYS if return_when == ALWAYS else ANY_COMPLETED,
                download_results=download_results, timeout=timeout, wait_dur_sec=wait_dur_sec, show_progressbar=False,
            )
            for f in finished:
                rf = by_future[f]
                if f.error:
                    rf._inc_failure_count()
                    if rf._should_retry():
                        rf._retry(self.executor)
                        continue
                    if throw_except:
                        rf._reraise_if_error()
                pending.remove(rf)
                done.append(rf)
            if return_when == ALWAYS or (return_when == ANY_COMPLETED and done):
                break
        order = {id(rf): i for i, rf in enumerate(fs)}
        return sorted(done, key=lambda rf: order[id(rf)]), pending

    def clean(self, fs: Any = None, cs: list[CloudObject] | None = None, clean_cloudobjects: bool = True,
              clean_fn: bool = False, force: bool = False) -> None:
        """Delete temporary data of the wrapped executor (see ``FunctionExecutor.clean``)."""
        self.executor.clean(fs, cs, clean_cloudobjects, clean_fn, force)
