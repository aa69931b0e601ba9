"""The ``aws_lambda`` compute backend (storage transport): one asynchronous Lambda invocation per group of calls.

The executor has uploaded the function and the call data to storage before :meth:`LambdaBackend.invoke`; the
backend makes sure the function of the runtime exists and runs the client's Python version, then invokes it in
parallel threads with one worker payload each. Throttled invocations (429 TooManyRequestsException) and
transient failures are retried with exponential backoff and full jitter. Workers write each call's status to
S3, which the executor polls.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import botocore.exceptions

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.invocations import backoff_delay, event_body, invoke_all
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_aws.aws_lambda.functions import FunctionInfo, LambdaFunctions, worker_processes
from lithops_aws.plugin import LAMBDA_CONFIG, apply_aliases
from lithops_aws.session import error_code, http_status, translate

logger = logging.getLogger(__name__)

#: Error codes after which an invocation is tried again.
RETRYABLE_CODES = frozenset({
    "TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
    "ServiceException", "EC2ThrottledException", "ResourceConflictException", "RequestTimeout",
    "ServiceUnavailable", "InternalFailure",
})
#: Lambda accepts asynchronous events up to 256 KiB; larger worker payloads go through storage.
MAX_EVENT_BYTES = 250_000


class LambdaBackend(ComputeBackend):
    """Runs calls in AWS Lambda functions.

    Args:
        config: the ``aws_lambda`` section (see ``lithops_aws.plugin.LAMBDA_CONFIG``).
        lithops_config: the whole executor config.
    """

    transport = "storage"
    ships_modules = True
    config_schema: ClassVar[Mapping[str, ConfigKey]] = LAMBDA_CONFIG
    #: Backoff of retried invocations: first ceiling and largest wait, in seconds.
    BACKOFF_BASE, BACKOFF_CAP = 0.1, 10.0

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(apply_aliases(config, "aws_lambda"), lithops_config, storage=storage)
        self.functions = LambdaFunctions(self.config)
        self.threads = int(self.config["invoke_pool_threads"])
        retries = self.config.get("invoke_max_retries")
        self.max_retries = 10 if retries is None else int(retries)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.invocations = 0
        self.throttled = 0

    # -- helpers ---------------------------------------------------------------------------------------------
    def _memory(self, job: JobRequest) -> int:
        return int(job.runtime_memory or self.config["runtime_memory"])

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="lithops-lambda-invoke")
            return self._pool

    def _body(self, job: JobRequest, ids: list[str]) -> bytes:
        """The event of one invocation: the worker payload, or when that is over Lambda's 256 KiB limit for
        asynchronous events, a reference to it in storage (never more invocations than ``max_workers``).
        """
        payload = job.worker_payload(ids, worker_processes(self.config, self._memory(job)))
        return event_body(self, job, payload, MAX_EVENT_BYTES, f"{job.prefix}/lambda_payload_{ids[0]}.json")

    def _invoke_one(self, function: FunctionInfo, body: bytes, stop: threading.Event) -> None:
        client = self.functions.invoke_client
        attempt = 0
        while True:
            if stop.is_set():
                return
            try:
                response = client.invoke(FunctionName=function.name, InvocationType="Event", Payload=body)
                status = int(response.get("StatusCode") or 0)
                if status != 202:
                    raise BackendError(f"Lambda answered {status} to an asynchronous invocation of {function.name}")
                with self._pool_lock:
                    self.invocations += 1
                return
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                code, status = error_code(exc), http_status(exc)
                transient = isinstance(exc, (botocore.exceptions.ConnectionError,  # as boto3 itself retries
                                             botocore.exceptions.ConnectionClosedError,
                                             botocore.exceptions.ReadTimeoutError))
                if code == "ResourceNotFoundException":
                    self.functions.forget(function.runtime, function.memory)
                    raise BackendError(
                        f"Lambda function {function.name} does not exist in region {self.functions.region} "
                        f"(deleted after Lithops deployed it?). Run again to redeploy it, or check "
                        f"aws_lambda.region."
                    ) from None
                if (code in RETRYABLE_CODES or status == 429 or status >= 500 or transient) and (
                    attempt < self.max_retries
                ):
                    if code == "TooManyRequestsException" or status == 429:
                        with self._pool_lock:
                            self.throttled += 1
                    time.sleep(backoff_delay(attempt, self.BACKOFF_BASE, self.BACKOFF_CAP))
                    attempt += 1
                    continue
                if code == "TooManyRequestsException" or status == 429:
                    raise BackendError(
                        f"Lambda kept throttling invocations of {function.name} after {attempt} retries "
                        f"({code or status}). Lower aws_lambda.max_workers or invoke_pool_threads, or ask AWS to "
                        f"raise the account's concurrency limit."
                    ) from None
                new = translate(exc, f"Lambda Invoke {function.name}", self.functions.endpoint)
                if new is exc:
                    raise BackendError(f"Lambda Invoke {function.name} failed: {exc}") from exc
                raise new from exc

    # -- the contract ----------------------------------------------------------------------------------------
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Invoke the function once per group of calls; return when every invocation is accepted."""
        memory = self._memory(job)
        # no call outlives the function's own timeout: lowering the job's lets the client give up on a lost
        # invocation after runtime_timeout (+ grace) rather than after lithops.execution_timeout
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        function = self.functions.ensure(self.config.get("runtime"), memory)
        bodies = [self._body(job, ids) for ids in job.call_groups(self.max_workers)]
        start = time.monotonic()
        invoke_all(self._executor(), functools.partial(self._invoke_one, function), bodies)
        logger.debug("ExecutorID %s | JobID %s - %d Lambda invocations of %s in %.2f s", job.executor_id,
                     job.job_id, len(bodies), function.name, time.monotonic() - start)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Lambda cannot stop running invocations; calls not yet started are simply never invoked."""

    def close(self) -> None:
        """Stop the invoker threads."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
