"""The ``azure_functions`` compute backend (storage transport): calls delivered to a Flex Consumption function app,
as messages on its storage queue (``trigger: pub/sub``) or as HTTPS requests to its HTTP trigger
(``trigger: https``); the app's code is :mod:`lithops_azure.functions.handler`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

import requests

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.helpers import DaemonThreads, report_failed
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_azure.auth import queue_client
from lithops_azure.delivery import PoisonWatcher, Sender, message_body
from lithops_azure.functions.apps import FunctionApps
from lithops_azure.plugin import FUNCTIONS_CONFIG

#: An HTTP trigger takes request bodies up to 100 MB; payloads over this go through storage anyway.
MAX_HTTP_BYTES = 4_000_000


class FunctionsBackend(ComputeBackend):
    """Runs calls in Azure Functions.

    Args:
        config: the ``azure_functions`` section (see ``lithops_azure.plugin.FUNCTIONS_CONFIG``).
        lithops_config: the whole executor config.
    """

    transport: ClassVar[str] = "storage"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = FUNCTIONS_CONFIG
    #: Instances start from zero when calls arrive (the queue listener polls with backoff).
    start_timeout: ClassVar[float | None] = 600.0

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self.apps = FunctionApps(self.config)
        self.https = self.config["trigger"] == "https"
        self.sender = Sender(int(self.config["invoke_pool_threads"]))
        self.watchers: dict[str, PoisonWatcher] = {}
        self._http: DaemonThreads | None = None
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Deliver one payload per group of calls (deploying the app first when missing)."""
        memory = int(job.runtime_memory or self.config["runtime_memory"])
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        site = self.apps.ensure(memory)
        name = str(site.name)
        processes = int(self.config["worker_processes"])
        groups = job.call_groups(self.max_workers)
        if self.https:
            url = self.apps.invoke_url(site)
            if name not in self._keys:  # read once per app and client
                self._keys[name] = self.apps.function_key(name)
            key = self._keys[name]
            with self._lock:
                if self._http is None:
                    self._http = DaemonThreads(self.max_workers, name="lithops-azure-https")
                pool = self._http
            for ids in groups:
                pool.submit(self._post, url, key, message_body(self, job, ids, processes, MAX_HTTP_BYTES),
                            job.worker_payload(ids, processes), report)
            return
        if name not in self.watchers:
            self.watchers[name] = PoisonWatcher(queue_client(self.apps.queues, f"{name}-poison"), "Azure Functions")
        self.watchers[name].watch(job, report)
        queue = queue_client(self.apps.queues, name)
        bodies = [message_body(self, job, ids, processes) for ids in groups]
        self.sender.send_all(bodies, queue.send_message, f"sending calls to queue {name}")

    def _post(self, url: str, key: str, body: bytes, payload: dict[str, Any], report: StatusReporter) -> None:
        """One HTTPS invocation; its calls fail at once when it cannot run them."""
        timeout = float(self.config["runtime_timeout"]) + 60
        try:
            response = self._session.post(url, data=body, headers={"x-functions-key": key,
                                                                   "Content-Type": "application/json"},
                                          timeout=(10, timeout))
        except requests.RequestException as exc:
            report_failed(report, payload, BackendError(f"the HTTPS invocation of {url} failed: {exc}"))
            return
        if response.status_code != 200:
            try:
                detail = json.loads(response.content).get("error") or response.text
            except ValueError:
                detail = response.text[:500]
            report_failed(report, payload, BackendError(
                f"the function app answered {response.status_code} to an invocation: {detail}"))

    def cancel(self, job_keys: Collection[str]) -> None:
        """Messages and requests already sent run; nothing else is started for these jobs."""

    def close(self) -> None:
        """Stop the sender threads and the poison queue watchers."""
        self.sender.close()
        for watcher in self.watchers.values():
            watcher.close()
        with self._lock:
            pool, self._http = self._http, None
        if pool is not None:
            pool.shutdown()
