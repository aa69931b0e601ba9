"""The ``gcp_cloudrun`` compute backend (storage transport): one HTTPS request to a Cloud Run service per group of
calls.

Before the first job of a runtime and memory size, the service is deployed (or found) and waited for until Ready,
and its runtime must report the client's Python version. Each request carries an identity token and lasts while
its calls run; workers write each call's status to storage, which the executor polls.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.payloads import put_payload
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_gcp.gcp_cloudrun.services import CloudRunServices
from lithops_gcp.invoker import HttpInvoker
from lithops_gcp.plugin import CLOUDRUN_CONFIG

#: Cloud Run takes request bodies up to 32 MiB; larger worker payloads go through storage.
MAX_REQUEST_BYTES = 30 * 1024 * 1024


def worker_processes(config: Mapping[str, Any]) -> int:
    """Calls one request runs at once: ``worker_processes``, or with AUTO the container's vCPUs."""
    value = config["worker_processes"]
    if value == "AUTO":
        return max(1, int(float(config["runtime_cpu"])))
    return int(value)


def payload_body(backend: ComputeBackend, job: JobRequest, payload: dict[str, Any], limit: int) -> dict[str, Any]:
    """What to send for ``payload``: itself, or when its JSON is over ``limit`` bytes a reference to it in storage."""
    import json

    if len(json.dumps(payload)) <= limit:
        return payload
    return {"lithops_payload": put_payload(backend, job, f"{job.prefix}/payload_{payload['call_ids'][0]}.json",
                                           payload)}


class CloudRunBackend(ComputeBackend):
    """Runs calls in Cloud Run services.

    Args:
        config: the ``gcp_cloudrun`` section (see ``lithops_gcp.plugin.CLOUDRUN_CONFIG``).
        lithops_config: the whole executor config.
    """

    transport: ClassVar[str] = "storage"
    ships_modules: ClassVar[bool] = True
    config_schema: ClassVar[Mapping[str, ConfigKey]] = CLOUDRUN_CONFIG
    #: A new instance may take a while to start when many are asked for at once.
    start_timeout: ClassVar[float | None] = 600.0

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self.services = CloudRunServices(self.config)
        self._invoker: HttpInvoker | None = None

    @property
    def invoker(self) -> HttpInvoker:
        """The invoker (made on first use, again after :meth:`close`)."""
        if self._invoker is None:
            self._invoker = HttpInvoker("Cloud Run", self.services.tokens, self.max_workers,
                                        float(self.config["runtime_timeout"]) + 60,
                                        keep_alive=int(self.config["invoke_pool_threads"]))
        return self._invoker

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Send one request per group of calls (at most ``max_workers`` groups); return once all are queued."""
        memory = int(job.runtime_memory or self.config["runtime_memory"])
        # no call outlives the request's own timeout: the client gives up on a lost request after it
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        service = self.services.ensure(self.config.get("runtime"), memory)
        invoker = self.invoker
        for ids in job.call_groups(self.max_workers):
            payload = job.worker_payload(ids, worker_processes(self.config))
            invoker.submit(job.job_key, service.uri, payload, report,
                           payload_body(self, job, payload, MAX_REQUEST_BYTES))

    def cancel(self, job_keys: Collection[str]) -> None:
        """Requests not sent yet are dropped; running ones cannot be stopped."""
        self.invoker.cancelled.update(job_keys)

    def close(self) -> None:
        """Stop sending requests (those open go on)."""
        if self._invoker is not None:
            self._invoker.shutdown()
            self._invoker = None
