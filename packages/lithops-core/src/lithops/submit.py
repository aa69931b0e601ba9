"""Job submission for one executor: building jobs, making their futures, handing them to the backend, and
chaining (jobs whose input is the futures of earlier calls start once those finish).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from lithops.backends.compute import ComputeBackend
from lithops.config import worker_config
from lithops.errors import BackendError
from lithops.futures import FuturesList, ResponseFuture
from lithops.job.builder import create_job, function_name
from lithops.job.job import JobRequest, call_id_of
from lithops.local_state import record_job_finished, record_job_submitted
from lithops.monitor import JobMonitor
from lithops.transport import Transport

logger = logging.getLogger(__name__)


def chained_futures(iterdata: Any) -> list[ResponseFuture] | None:
    """The futures of earlier calls given as the whole input of a new job (a future, or a list or tuple of
    them), else None. Futures mixed with plain data are refused.
    """
    if isinstance(iterdata, ResponseFuture):
        return [iterdata]
    if not isinstance(iterdata, (list, tuple)):
        return None
    futures = [x for x in iterdata if isinstance(x, ResponseFuture)]
    if not futures:
        return None
    if len(futures) != len(iterdata):
        raise ValueError(
            f"the input mixes {len(futures)} futures of earlier calls with {len(iterdata) - len(futures)} plain "
            f"values. Chaining takes futures as the whole input of the next job: get their results first "
            f"(fexec.get_result(futures)) and build the input from those."
        )
    return futures


class JobSubmitter:
    """Submits the jobs of one executor and keeps their futures.

    Args:
        executor_id: the executor's id.
        config: the executor's config.
        backend_name: the compute backend's name.
        compute: the executor's compute backend.
        monitor: the executor's monitor (futures are registered with it).
        transport: how jobs reach the backend.
        storage_backend_path: import string of the storage backend class the workers use.
        data_storages: other storage backends data-map inputs come from (their sections go to the workers).
    """

    def __init__(self, executor_id: str, config: dict[str, Any], backend_name: str, compute: ComputeBackend,
                 monitor: JobMonitor, transport: Transport, storage_backend_path: str, data_storages: set[str]) -> None:
        self.executor_id = executor_id
        self.config = config
        self.backend_name = backend_name
        self.compute = compute
        self.monitor = monitor
        self.transport = transport
        self.storage_backend_path = storage_backend_path
        self.data_storages = data_storages
        #: Every future made, in submission order.
        self.futures: list[ResponseFuture] = []
        #: Job id -> function name, memory and submission time of each submitted job.
        self.jobs: dict[str, dict[str, Any]] = {}
        self._job_counter = itertools.count()

    def new_job_id(self, kind: str) -> str:
        """A new job id: ``A`` (call_async), ``M`` (map) or ``R`` (reduce) and a counter."""
        return f"{kind}{next(self._job_counter):03d}"

    def submit(self, job_id: str, func: Callable[..., Any], iterdata: list[Any], **options: Any) -> FuturesList:
        """Submit a job now; return its futures."""
        job, stats = self._build(job_id, func, iterdata, **options)
        futures = self._make_futures(job_id, job.total_calls, func, options)
        self._invoke(job, futures, stats)
        return FuturesList(futures)

    def submit_after(self, upstream: list[ResponseFuture], job_id: str, n_calls: int,
                     make_iterdata: Callable[[], list[Any]], func: Callable[..., Any], **options: Any) -> FuturesList:
        """Submit a job whose input, ``make_iterdata()``, is made from the results of ``upstream`` once they
        have finished; return its futures now. If the input cannot be made (an upstream call failed), the
        job's calls fail with that error. ``upstream`` is consumed: ``get_result`` no longer returns it.
        """
        for f in upstream:
            f.mark_consumed()
        futures = self._make_futures(job_id, n_calls, func, options)

        def start() -> None:
            try:
                job, stats = self._build(job_id, func, make_iterdata(), **options)
                self._invoke(job, futures, stats)
            except BaseException as exc:
                self.monitor.fail(futures, exc)

        self.monitor.after(upstream, start)
        return FuturesList(futures)

    def _runtime_memory(self, options: dict[str, Any]) -> Any:
        return options.get("runtime_memory") or self.compute.config.get("runtime_memory")

    def _build(self, job_id: str, func: Callable[..., Any], iterdata: list[Any],
               **options: Any) -> tuple[JobRequest, dict[str, Any]]:
        """The job, and the stats of its making (``host_job_*``) for its futures."""
        # the request carries the effective memory: the call's own, else the backend section's
        options["runtime_memory"] = self._runtime_memory(options)
        start = time.time()
        job = create_job(
            executor_id=self.executor_id,
            job_id=job_id,
            func=func,
            iterdata=iterdata,
            config=worker_config(self.config, self.data_storages),  # only the sections workers need
            storage_backend=self.storage_backend_path,
            ships_modules=self.compute.ships_modules,
            **options,
        )
        stats = {"host_job_create_tstamp": start, "host_job_serialize_time": time.time() - start,
                 "func_module_size_bytes": len(job.function), "host_submit_tstamp": job.submitted}
        return job, stats

    def _make_futures(self, job_id: str, n: int, func: Callable[..., Any],
                      options: dict[str, Any]) -> list[ResponseFuture]:
        timeout = options.get("execution_timeout")
        attributes = dict(
            function_name=function_name(func), backend=self.backend_name,
            runtime_name=self.compute.config.get("runtime"), runtime_memory=self._runtime_memory(options),
            execution_timeout=timeout if timeout is not None else self.config["lithops"].get("execution_timeout"),
        )
        futures = [ResponseFuture(self.executor_id, job_id, call_id_of(i), self.monitor, **attributes)
                   for i in range(n)]
        self.monitor.register(futures)
        self.futures.extend(futures)
        return futures

    def _invoke(self, job: JobRequest, futures: list[ResponseFuture], stats: dict[str, Any]) -> None:
        if not futures:
            return
        try:
            func_time, data_time = self.transport.send(job)
            stats = {**stats, "host_func_upload_time": func_time, "host_data_upload_time": data_time,
                     "host_job_created_time": time.time() - stats["host_job_create_tstamp"]}
            for future, data in zip(futures, job.call_data, strict=False):
                future.set_submit_stats(stats, len(data))
            self.compute.invoke(job, self.monitor.report)
        except Exception as exc:
            self.monitor.unwatch(job.job_key)
            error = exc if isinstance(exc, BackendError) else BackendError(
                f"backend '{self.backend_name}' could not start job {job.job_key}: "
                f"{type(exc).__name__}: {exc}"
            )
            self.monitor.fail(futures, error)
            raise error from exc
        self.monitor.mark_invoked(futures)
        self._record(job, futures)
        logger.debug("ExecutorID %s | JobID %s - %d calls submitted", self.executor_id, job.job_id, len(futures))

    def _record(self, job: JobRequest, futures: list[ResponseFuture]) -> None:
        """Remember a submitted job for job_summary() and plot(), and in this machine's job log."""
        self.jobs[job.job_id] = {"function": job.function_name, "runtime_memory": job.runtime_memory,
                                 "submitted": job.submitted}
        storage_backend = self.transport.storage.storage_config["backend"]
        record_job_submitted(job.job_key, job.function_name, len(futures), self.backend_name, storage_backend,
                             job.submitted)

        def finished() -> None:
            failed = sum(1 for f in futures if f.error)
            record_job_finished(job.job_key, len(futures) - failed, failed)

        self.monitor.after(futures, finished)
