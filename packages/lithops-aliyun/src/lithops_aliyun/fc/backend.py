"""The ``aliyun_fc`` compute backend (storage transport): one asynchronous Function Compute invocation per group of
calls.

The executor has uploaded the function and the call data to OSS before :meth:`FCBackend.invoke`; the backend makes
sure the function of the runtime exists and runs the client's Python version, then invokes it from parallel
threads with one worker payload each (``x-fc-invocation-type: Async``: FC queues the event and answers 202). A job
never makes more invocations than ``max_workers`` (at most FC's 300 instances of a region). Throttled invocations
(429) and transient failures are retried with exponential backoff and full jitter. Workers write each call's
status to OSS, which the executor polls.

Each invocation is an FC async task named ``<job key>-<index>``. The backend watches a job's tasks with
:class:`lithops.backends.array_jobs.ArrayJobs` (one ListAsyncTasks of the job per poll): the calls of a task that
failed without writing their statuses (its payload unusable, its instance gone) fail at once with FC's reason, and
cancelling a job stops its tasks that have not finished.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from lithops.backends.array_jobs import ArrayJobs, ArrayRun, poll_interval
from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.invocations import backoff_delay, event_body, invoke_all
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_aliyun.fc.functions import FCFunctions, FunctionInfo
from lithops_aliyun.plugin import FC_CONFIG
from lithops_aliyun.session import fc_error

logger = logging.getLogger(__name__)

#: FC accepts asynchronous events up to 128 KiB; larger worker payloads go through storage.
MAX_ASYNC_EVENT_BYTES = 120_000
#: Error codes after which an invocation is tried again.
RETRYABLE_CODES = frozenset({"ResourceThrottled", "ResourceExhausted", "ServiceUnavailable", "InternalError",
                             "ConcurrentUpdateError", "Throttling", "ThrottlingException"})
#: Statuses of an async task that has ended.
ENDED = frozenset({"Succeeded", "Failed", "Stopped", "Expired", "Invalid"})


def task_prefix(job_key: str) -> str:
    """How the async task ids of a Lithops job start (FC takes letters, digits, ``_`` and ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", job_key) + "-"


class FCBackend(ComputeBackend):
    """Runs calls in Alibaba Cloud Function Compute 3.0.

    Args:
        config: the ``aliyun_fc`` section (see ``lithops_aliyun.plugin.FC_CONFIG``).
        lithops_config: the whole executor config.
    """

    transport = "storage"
    ships_modules = True
    config_schema: ClassVar[Mapping[str, ConfigKey]] = FC_CONFIG
    #: Backoff of retried invocations: first ceiling and largest wait, in seconds.
    BACKOFF_BASE, BACKOFF_CAP = 0.1, 10.0

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self.functions = FCFunctions(self.config)
        self.max_retries = int(self.config["invoke_max_retries"])
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.invocations = 0
        self.throttled = 0
        self.tasks = ArrayJobs(self, poll_interval(self, 1.0), "lithops-fc-tasks")

    def _memory(self, job: JobRequest) -> int:
        return int(job.runtime_memory or self.config["runtime_memory"])

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(int(self.config["invoke_pool_threads"]),
                                                thread_name_prefix="lithops-fc-invoke")
            return self._pool

    def _body(self, job: JobRequest, ids: list[str], memory: int) -> bytes:
        """The event of one invocation: the worker payload, or a reference to it in storage when it is over FC's
        limit of asynchronous events.
        """
        payload = job.worker_payload(ids, self.functions.worker_processes(memory))
        return event_body(self, job, payload, MAX_ASYNC_EVENT_BYTES, f"{job.prefix}/fc_payload_{ids[0]}.json")

    def _invoke_one(self, function: FunctionInfo, task: tuple[str, bytes], stop: threading.Event) -> None:
        task_id, body = task
        attempt = 0
        while not stop.is_set():
            try:
                response = self.functions.invoke_async(function.name, body, task_id)
                if int(response.status_code or 0) != 202:
                    raise BackendError(f"FC answered {response.status_code} to an asynchronous invocation of "
                                       f"{function.name}")
                with self._lock:
                    self.invocations += 1
                return
            except BackendError:
                raise
            except Exception as exc:
                code, status = getattr(exc, "code", None), int(getattr(exc, "status_code", 0) or 0)
                if code == "AsyncTaskAlreadyExists" and attempt:  # an earlier attempt was accepted after all
                    return
                if code == "FunctionNotFound":
                    self.functions.forget(function.runtime, function.memory)
                    raise BackendError(f"FC function {function.name} does not exist in region "
                                       f"{self.functions.region} (deleted after Lithops deployed it?). Run again to "
                                       f"redeploy it.") from None
                throttled = status == 429 or code in ("ResourceThrottled", "ResourceExhausted")
                transient = code is None  # no answer at all: connection refused, reset, timed out
                if (throttled or transient or code in RETRYABLE_CODES or status >= 500) and (
                        attempt < self.max_retries):
                    if throttled:
                        with self._lock:
                            self.throttled += 1
                    time.sleep(backoff_delay(attempt, self.BACKOFF_BASE, self.BACKOFF_CAP))
                    attempt += 1
                    continue
                if throttled:
                    raise BackendError(f"FC kept throttling invocations of {function.name} after {attempt} retries "
                                       f"({code}: {getattr(exc, 'message', exc)}). Lower aliyun_fc.max_workers, or "
                                       f"ask Alibaba Cloud to raise the region's instance limit.") from None
                raise fc_error(exc, f"FC InvokeFunction {function.name}", self.functions.endpoint) from None

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Invoke the function once per group of calls; return when every invocation is accepted."""
        memory = self._memory(job)
        # no call outlives the function's timeout: the client gives up on a lost invocation after it (+ grace)
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        function = self.functions.ensure(self.config.get("runtime"), memory)
        groups = job.call_groups(self.max_workers)
        bodies = [self._body(job, ids, memory) for ids in groups]
        prefix = task_prefix(job.job_key)
        start = time.monotonic()
        invoke_all(self._executor(), functools.partial(self._invoke_one, function),
                   [(f"{prefix}{i}", body) for i, body in enumerate(bodies)])
        self.tasks.watch(ArrayRun(job.executor_id, job.job_id, function.name, [list(g) for g in groups], report))
        logger.debug("ExecutorID %s | JobID %s - %d FC invocations of %s in %.2f s", job.executor_id, job.job_id,
                     len(bodies), function.name, time.monotonic() - start)

    # -- watching the async tasks (lithops.backends.array_jobs.ArrayPlatform) -------------------------------------
    def poll_runs(self, runs: list[ArrayRun]) -> None:
        """One ListAsyncTasks per job: fail the calls of its failed tasks, stop watching it once all have ended."""
        for run in runs:
            prefix = task_prefix(run.job_key)
            tasks = self.functions.async_tasks(run.name, prefix)
            failed: dict[str, list[int]] = {}
            ended = 0
            for task in tasks:
                index = str(task.task_id or "")[len(prefix):]
                if not index.isdigit():
                    continue
                status = str(task.status or "")
                ended += status in ENDED
                if status in ("Failed", "Expired", "Invalid"):
                    reason = str(task.task_error_message or status)
                    failed.setdefault(reason, []).append(int(index))
            for reason, indexes in failed.items():
                self.tasks.fail(run, indexes, reason)
            if ended >= len(run.groups):
                self.tasks.finish(run)

    def index_failure(self, run: ArrayRun, index: int, reason: str) -> str:
        """The error of the calls of a failed task."""
        return (f"the Function Compute invocation {task_prefix(run.job_key)}{index} of function {run.name} failed "
                f"before its calls wrote a status: {reason[:500]}")

    def stop_run(self, run: ArrayRun, reason: str) -> None:
        """Stop the job's tasks that have not ended."""
        prefix = task_prefix(run.job_key)
        for task in self.functions.async_tasks(run.name, prefix):
            if str(task.status or "") not in ENDED:
                try:
                    self.functions.stop_async_task(run.name, str(task.task_id))
                except BackendError as exc:  # it ended meanwhile
                    logger.debug("could not stop FC task %s: %s", task.task_id, exc)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Stop the async tasks of these jobs that have not ended (the workers also skip the calls of cancelled
        jobs they see).
        """
        self.tasks.cancel(job_keys)

    def close(self) -> None:
        """Stop watching tasks and the invoker threads."""
        self.tasks.close()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
