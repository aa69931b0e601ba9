"""The ``gcp_functions`` compute backend (storage transport): one Pub/Sub message, or one HTTPS request, per group
of calls to a Cloud Function running our handler.

With the ``pub/sub`` trigger (the default, as Lithops) ``invoke`` publishes one message per group to the function's
topic and returns once Pub/Sub has accepted them all; the function runs each message once (no retries: every call
has a status in storage, whatever happened to it). With ``https`` it POSTs each group to the function's URL with an
identity token, as ``gcp_cloudrun`` does.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_gcp.auth import gcp_errors
from lithops_gcp.gcp_cloudrun.backend import payload_body
from lithops_gcp.gcp_functions.functions import CloudFunctions
from lithops_gcp.invoker import HttpInvoker
from lithops_gcp.plugin import FUNCTIONS_CONFIG

#: Pub/Sub messages are at most 10 MB; HTTPS requests to functions 32 MiB.
MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES = 9 * 1024 * 1024, 30 * 1024 * 1024
#: Seconds to wait for Pub/Sub to accept the messages of one job.
PUBLISH_TIMEOUT = 120.0


class FunctionsBackend(ComputeBackend):
    """Runs calls in Cloud Functions (2nd gen).

    Args:
        config: the ``gcp_functions`` section (see ``lithops_gcp.plugin.FUNCTIONS_CONFIG``).
        lithops_config: the whole executor config.
    """

    transport: ClassVar[str] = "storage"
    ships_modules: ClassVar[bool] = True
    config_schema: ClassVar[Mapping[str, ConfigKey]] = FUNCTIONS_CONFIG
    start_timeout: ClassVar[float | None] = 600.0

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self.functions = CloudFunctions(self.config)
        self.functions.requirements()  # a runtime file that does not exist is a config error, before any job
        self._invoker: HttpInvoker | None = None
        self._publisher: Any = None
        self._cancelled: set[str] = set()

    def _workers(self, memory: int) -> int:
        """Calls one invocation runs at once: ``worker_processes``, or with AUTO the vCPUs Cloud Functions gives
        ``memory`` MiB (1 up to 2 GiB, 2 up to 8 GiB, 4 at 16 GiB, 8 at 32 GiB).
        """
        value = self.config["worker_processes"]
        if value != "AUTO":
            return int(value)
        return next(cpus for limit, cpus in ((2048, 1), (8192, 2), (16384, 4)) if memory <= limit) \
            if memory <= 16384 else 8

    def _http(self) -> HttpInvoker:
        if self._invoker is None:
            self._invoker = HttpInvoker("Cloud Functions", self.functions.tokens, self.max_workers,
                                        float(self.config["runtime_timeout"]) + 60,
                                        keep_alive=int(self.config["invoke_pool_threads"]))
            self._invoker.cancelled = self._cancelled
        return self._invoker

    def _pubsub(self) -> Any:
        if self._publisher is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # no type information

            self._publisher = pubsub_v1.PublisherClient(credentials=self.functions.credentials)
        return self._publisher

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Deliver one message (or request) per group of calls; return once all are accepted (or queued)."""
        memory = int(job.runtime_memory or self.config["runtime_memory"])
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        function = self.functions.ensure(memory)
        groups = job.call_groups(self.max_workers)
        if function.topic is None:
            invoker = self._http()
            for ids in groups:
                payload = job.worker_payload(ids, self._workers(memory))
                invoker.submit(job.job_key, function.uri, payload, report,
                               payload_body(self, job, payload, MAX_REQUEST_BYTES))
            return
        publisher = self._pubsub()
        with gcp_errors(f"Pub/Sub publish to {function.topic}"):
            futures = [publisher.publish(function.topic, json.dumps(payload_body(
                self, job, job.worker_payload(ids, self._workers(memory)),
                MAX_MESSAGE_BYTES)).encode()) for ids in groups]
            failed = 0
            for future in futures:
                try:
                    future.result(timeout=PUBLISH_TIMEOUT)
                except Exception as exc:
                    failed += 1
                    error = exc
            if failed:
                raise BackendError(f"Pub/Sub did not accept {failed} of {len(futures)} messages of job {job.job_key} "
                                   f"to {function.topic}: {error}. The others were accepted and run.")

    def cancel(self, job_keys: Collection[str]) -> None:
        """Requests not sent yet are dropped (published messages run)."""
        self._cancelled.update(job_keys)

    def close(self) -> None:
        """Stop sending requests and publishing."""
        if self._invoker is not None:
            self._invoker.shutdown()
            self._invoker = None
        if self._publisher is not None:
            self._publisher.stop()
            self._publisher = None
