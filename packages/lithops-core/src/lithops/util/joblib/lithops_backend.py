"""The ``"lithops"`` joblib backend: each joblib batch is one Lithops call, through
:mod:`lithops.concurrent.futures`.
"""

from __future__ import annotations

import os
from typing import Any

from joblib._parallel_backends import AutoBatchingMixin, ParallelBackendBase

from lithops.concurrent.futures import FunctionExecutor as _Executor
from lithops.concurrent.futures import Future


class LithopsBackend(AutoBatchingMixin, ParallelBackendBase):  # type: ignore[misc]
    """Runs joblib's batches of tasks as Lithops calls; batches grow while calls are quick (joblib's
    auto-batching), so the per-call overhead of the backend stays small next to the work.

    Args:
        nesting_level, inner_max_num_threads: joblib's backend arguments.
        lithops_args: arguments of the Lithops executor (``config``, ``backend``, ``runtime_memory``, ...).
    """

    supports_retrieve_callback = True
    supports_timeout = True
    supports_sharedmem = False
    uses_threads = False

    def __init__(self, nesting_level: int | None = None, inner_max_num_threads: int | None = None,
                 lithops_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads, **kwargs)
        self.lithops_args = dict(lithops_args or {})
        self._executor: _Executor | None = None

    def _lithops(self) -> _Executor:
        if self._executor is None:
            self._executor = _Executor(**self.lithops_args)
        return self._executor

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        """``n_jobs`` as given; a negative value counts back from the backend's ``max_workers``
        (``-1``: all of them).
        """
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            return 1
        if n_jobs < 0:
            return max(self._max_workers() + 1 + n_jobs, 1)
        return n_jobs

    def _max_workers(self) -> int:
        config = self._lithops().lithops_executor.config
        section = config.get(config["lithops"]["backend"]) or {}
        return int(section.get("max_workers") or os.cpu_count() or 1)

    def configure(self, n_jobs: int = 1, parallel: Any = None, prefer: str | None = None,
                  require: str | None = None, **backend_kwargs: Any) -> int:
        """Prepare for one ``Parallel`` call; returns the number of calls that may run at once.

        (``require="sharedmem"`` never gets here: joblib picks its threading backend for it, since this one
        does not share memory with the caller.)
        """
        self.parallel = parallel
        return self.effective_n_jobs(n_jobs)

    def submit(self, func: Any, callback: Any = None) -> Future:
        """Run one batch of tasks as a Lithops call."""
        future = self._lithops().submit(func)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def retrieve_result_callback(self, out: Future) -> Any:
        """The batch's results (or its exception)."""
        return out.result()

    def terminate(self) -> None:
        """Close the Lithops executor once its calls are done (a later ``Parallel`` call opens a new one)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.reset_batch_stats()

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """After a task failed: stop waiting for the other calls (they cannot be recalled) and drop them."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self.reset_batch_stats()
