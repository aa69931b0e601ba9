"""The ``k8s`` runtime builder: ``lithops runtime build|deploy|list|delete -b k8s``.

``build`` makes and pushes the image; ``deploy`` runs it once (a one-pod Job) to record its Python and Lithops
versions in the job storage, where the backend checks them before sending work; ``list`` shows the recorded
runtimes; ``delete`` forgets one and deletes any Job of it left in the namespace.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends.helpers import body_bytes
from lithops.backends.runtime import RuntimeBuilder
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_kubernetes.images import build_and_push, node_arch
from lithops_kubernetes.k8s.backend import RUNTIMES_PREFIX, WORKER_COMMAND, K8sBackend
from lithops_kubernetes.kube import MANAGED_BY, RUNTIME_LABEL
from lithops_kubernetes.plugin import K8S_CONFIG


class K8sRuntimeBuilder(RuntimeBuilder):
    """Builds, records and removes ``k8s`` runtime images.

    Args:
        config: the ``k8s`` section.
        lithops_config: the whole config (its storage section holds the recorded runtimes).
    """

    config_schema: ClassVar[Mapping[str, ConfigKey]] = K8S_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, lithops_config or {})
        self.backend = K8sBackend(self.config, self.lithops_config,
                                  storage=JobStorage.from_config(self.lithops_config))

    def _use(self, name: str | None) -> str:
        if name:
            self.backend.config["runtime"] = name
        return self.backend.runtime_name()

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build image ``name`` (default: Lithops' default image) from Dockerfile ``file`` and push it."""
        image = self._use(name)
        arch = self.config.get("runtime_arch") or node_arch(self.backend.cluster)
        build_and_push(self.config, self.lithops_config, image, arch, file, WORKER_COMMAND, extra_args or ())

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Run image ``name`` once and record its metadata (checked against this client's Python)."""
        image = self._use(name)
        if memory:
            self.backend.config["runtime_memory"] = memory
        self.backend.check_server()
        meta = self.backend.runtime_metadata(refresh=True)
        self.backend.prepare()
        return {"runtime_name": image, "memory": self.backend.config["runtime_memory"], **meta}

    def list(self) -> list[dict[str, Any]]:
        """The recorded runtimes: ``[{'runtime_name', 'memory', 'version'}]``."""
        storage, _ = self.backend.job_storage()
        result = []
        for key in storage.list_keys(storage.bucket, RUNTIMES_PREFIX + "/"):
            meta = json.loads(body_bytes(storage.get_object(storage.bucket, key)))
            result.append({"runtime_name": meta.get("runtime_name", key.rsplit("/", 1)[-1][:-5]),
                           "memory": self.config["runtime_memory"], "version": meta.get("lithops_version"),
                           "python_version": meta.get("python_version")})
        return result

    def delete(self, name: str, memory: int | None = None) -> None:
        """Forget runtime ``name`` and delete the Jobs of it that are left in the namespace."""
        image = self._use(name)
        storage, _ = self.backend.job_storage()
        storage.delete_object(storage.bucket, self.backend.metadata_key(image))
        digest = self.backend.labels("", "", image)[RUNTIME_LABEL]
        self.backend.delete_jobs(f"{MANAGED_BY}=lithops,{RUNTIME_LABEL}={digest}")
