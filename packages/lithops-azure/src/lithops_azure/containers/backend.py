"""The ``azure_containers`` compute backend (storage transport): calls delivered as messages on the runtime's Azure
Storage queue, which scales its Container App from zero; each replica takes messages and runs them
(:mod:`lithops_azure.containers.entry_point`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.errors import ConfigError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_azure.auth import queue_client
from lithops_azure.containers.apps import ContainerApps
from lithops_azure.delivery import PoisonWatcher, Sender, message_body
from lithops_azure.plugin import CONTAINER_MEMORY_CPU, CONTAINERS_CONFIG


class ContainerAppsBackend(ComputeBackend):
    """Runs calls in Azure Container Apps replicas fed by a storage queue.

    Args:
        config: the ``azure_containers`` section (see ``lithops_azure.plugin.CONTAINERS_CONFIG``).
        lithops_config: the whole executor config.
    """

    transport: ClassVar[str] = "storage"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = CONTAINERS_CONFIG
    #: Replicas start from zero when the queue fills: allow for image pulls and the scaler's polling.
    start_timeout: ClassVar[float | None] = 600.0

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self.apps = ContainerApps(self.config)
        self.apps.image()
        self.apps.environment_id()
        self.sender = Sender(int(self.config["invoke_pool_threads"]))
        self.watchers: dict[str, PoisonWatcher] = {}

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Put one message per group of calls on the runtime's queue (deploying its app first when missing)."""
        memory = int(job.runtime_memory or self.config["runtime_memory"])
        if memory not in CONTAINER_MEMORY_CPU:
            raise ConfigError(f"runtime_memory {memory} MiB is not a size Container Apps offers: choose one of "
                              f"{', '.join(map(str, CONTAINER_MEMORY_CPU))} MiB (0.25 vCPU per 512 MiB)")
        # no call outlives the replica's own limit: the client gives up on a lost call after it
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        name = self.apps.ensure(memory)
        queue = queue_client(self.apps.queues, name)
        if name not in self.watchers:
            self.watchers[name] = PoisonWatcher(queue_client(self.apps.queues, f"{name}-poison"), "Container Apps")
        self.watchers[name].watch(job, report)
        processes = int(self.config["worker_processes"])
        bodies = [message_body(self, job, ids, processes) for ids in job.call_groups(self.max_workers)]
        self.sender.send_all(bodies, queue.send_message, f"sending calls to queue {queue.queue_name}")

    def cancel(self, job_keys: Collection[str]) -> None:
        """Messages already on the queue run; nothing else is started for these jobs."""

    def close(self) -> None:
        """Stop the sender threads and the poison queue watchers."""
        self.sender.close()
        for watcher in self.watchers.values():
            watcher.close()
