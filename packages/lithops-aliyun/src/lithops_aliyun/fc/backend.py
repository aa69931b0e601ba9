"""The ``aliyun_fc`` compute backend (storage transport): one asynchronous Function Compute invocation per group of
calls.

The executor has uploaded the function and the call data to OSS before :meth:`FCBackend.invoke`; the backend makes
sure the function of the runtime exists and runs the client's Python version, then invokes it from parallel
threads with one worker payload each (``x-fc-invocation-type: Async``: FC queues the event and answers 202). A job
never makes more invocations than ``max_workers`` (at most FC's 300 instances of a region). Throttled invocations
(429) and transient failures are retried with exponential backoff and full jitter. Workers write each call's
status to OSS, which the executor polls.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.payloads import put_payload
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
        body = json.dumps(payload).encode()
        if len(body) <= MAX_ASYNC_EVENT_BYTES:
            return body
        reference = put_payload(self, job, f"{job.prefix}/fc_payload_{ids[0]}.json", payload)
        return json.dumps({"lithops_payload": reference}).encode()

    def _invoke_one(self, function: FunctionInfo, body: bytes, stop: threading.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                response = self.functions.invoke_async(function.name, body)
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
                    time.sleep(random.uniform(0, min(self.BACKOFF_CAP, self.BACKOFF_BASE * 2 ** attempt)))
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
        bodies = [self._body(job, ids, memory) for ids in job.call_groups(self.max_workers)]
        stop = threading.Event()
        start = time.monotonic()
        futures: list[Future[None]] = [self._executor().submit(self._invoke_one, function, b, stop) for b in bodies]
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and f.exception() is not None]
        if failed:
            stop.set()
            wait(futures)
            accepted = sum(1 for f in futures if f.exception() is None)
            exc = failed[0].exception()
            assert exc is not None
            note = (f" {accepted} of {len(bodies)} invocations were accepted before that and may still run."
                    if accepted else "")
            raise BackendError(f"{exc}{note}") from exc
        logger.debug("ExecutorID %s | JobID %s - %d FC invocations of %s in %.2f s", job.executor_id, job.job_id,
                     len(bodies), function.name, time.monotonic() - start)

    def cancel(self, job_keys: Collection[str]) -> None:
        """FC cannot stop accepted asynchronous invocations; the workers skip the calls of cancelled jobs."""

    def close(self) -> None:
        """Stop the invoker threads."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
