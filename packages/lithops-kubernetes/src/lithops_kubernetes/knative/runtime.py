"""The ``knative`` runtime builder: ``lithops runtime build|deploy|list|delete -b knative``.

``build`` makes and pushes the image; ``deploy`` creates (or updates) its Knative Service for a memory size and
waits until it is Ready; ``list`` and ``delete`` work on the Services Lithops created (label
``app.kubernetes.io/managed-by=lithops``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends.runtime import RuntimeBuilder
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_kubernetes.images import build_and_push, node_arch
from lithops_kubernetes.knative.backend import GROUP, MEMORY_LABEL, PLURAL, SERVICE_COMMAND, VERSION, KnativeBackend
from lithops_kubernetes.kube import MANAGED_BY
from lithops_kubernetes.plugin import KNATIVE_CONFIG


class KnativeRuntimeBuilder(RuntimeBuilder):
    """Builds runtime images and manages their Knative Services.

    Args:
        config: the ``knative`` section.
        lithops_config: the whole config.
    """

    config_schema: ClassVar[Mapping[str, ConfigKey]] = KNATIVE_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, lithops_config or {})
        storage = JobStorage.from_config(self.lithops_config) if self.lithops_config.get("lithops") else None
        self.backend = KnativeBackend(self.config, self.lithops_config, storage=storage)

    def _use(self, name: str | None) -> str:
        if name:
            self.backend.config["runtime"] = name
        return self.backend.runtime_name()

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build image ``name`` (default: Lithops' default image) from Dockerfile ``file`` and push it."""
        image = self._use(name)
        arch = node_arch(self.backend.cluster)
        build_and_push(self.config, self.lithops_config, image, arch, file, SERVICE_COMMAND, extra_args or ())

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Create or update the Service of image ``name`` with ``memory`` MiB and wait until it is Ready."""
        image = self._use(name)
        if timeout is not None:
            self.backend.config["runtime_timeout"] = timeout
        memory = int(memory or self.config["runtime_memory"])
        host, _ = self.backend.deploy(memory)
        return {"runtime_name": image, "memory": memory, "service": self.backend.service_name(memory), "host": host,
                **self.backend.metadata}

    def _services(self) -> list[dict[str, Any]]:
        found = self.backend.cluster.call("listing Knative Services", self.backend.cluster.custom
                                          .list_namespaced_custom_object, GROUP, VERSION, self.backend.namespace,
                                          PLURAL, label_selector=f"{MANAGED_BY}=lithops")
        return list(found.get("items") or [])

    def list(self) -> list[dict[str, Any]]:
        """Lithops' Knative Services: ``[{'runtime_name', 'memory', 'version', 'service'}]``."""
        return [{"runtime_name": (s["metadata"].get("annotations") or {}).get("lithops.io/runtime-image", "?"),
                 "memory": int((s["metadata"].get("labels") or {}).get(MEMORY_LABEL) or 0),
                 "version": s["metadata"].get("generation"), "service": s["metadata"]["name"]}
                for s in self._services()]

    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete the Services of image ``name`` (of ``memory`` MiB only, when given)."""
        for item in self.list():
            if item["runtime_name"] == name and (memory is None or item["memory"] == memory):
                self.backend.cluster.call(f"deleting Knative Service {item['service']}",
                                          self.backend.cluster.custom.delete_namespaced_custom_object, GROUP,
                                          VERSION, self.backend.namespace, PLURAL, item["service"])
