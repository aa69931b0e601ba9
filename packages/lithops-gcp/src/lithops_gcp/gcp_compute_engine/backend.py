"""The ``gcp_compute_engine`` compute backend: the kernel's standalone layer on Compute Engine VMs
(:mod:`lithops.standalone`).

The kernel's :class:`~lithops.standalone.backend.StandaloneBackend` brings VMs up as ``exec_mode`` says, runs its
agent on them and hands them work through the storage bucket;
:class:`lithops_gcp.gcp_compute_engine.provider.ComputeEngineVMs` is the Compute Engine life cycle. See
docs/backends/gcp.md.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.errors import BackendError
from lithops.plugins.specs import ConfigKey
from lithops.standalone.backend import StandaloneBackend
from lithops.standalone.provider import VM
from lithops.storage.job_storage import JobStorage
from lithops_gcp.gcp_compute_engine.provider import ComputeEngineVMs
from lithops_gcp.plugin import COMPUTE_ENGINE_CONFIG

#: Where VMs download objects with their service account's token (Cloud Storage's JSON API media download).
STORAGE_API = "https://storage.googleapis.com"


class ComputeEngineBackend(StandaloneBackend):
    """Runs calls on Compute Engine VMs (``gcp_compute_engine`` section, with the ``gcp`` and ``standalone``
    sections).
    """

    provider_class = ComputeEngineVMs
    section = "gcp_compute_engine"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = COMPUTE_ENGINE_CONFIG
    #: What the agent needs on a stock image (its ``python3``) to reach Cloud Storage.
    agent_requirements = ("google-cloud-storage>=2.14",)

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        if self.config.get("preemptible"):
            self.config["request_spot_instances"] = True

    def agent_config(self, vm: VM) -> dict[str, Any]:
        """The kernel's agent config; the VMs use their own service account, never the client's key file."""
        config = super().agent_config(vm)
        storage = config["storage"]["config"] = dict(config["storage"]["config"])
        storage.pop("credentials_path", None)
        return config

    def download_url(self, key: str) -> str:
        """The Cloud Storage JSON API URL of ``key`` in the job's bucket, which a VM downloads with its service
        account's token (:attr:`ComputeEngineVMs.code_auth_command`).
        """
        storage = self.job_storage()[0]
        if storage.backend != "gcp_storage":
            raise BackendError(f"gcp_compute_engine creates VMs that download Lithops's code from Cloud Storage, but "
                               f"the storage backend is {storage.backend}: use storage gcp_storage (or exec_mode "
                               f"consume).")
        base = os.environ.get("STORAGE_EMULATOR_HOST") or STORAGE_API
        if "://" not in base:
            base = f"http://{base}"
        return (f"{base.rstrip('/')}/download/storage/v1/b/{storage.bucket}/o/"
                f"{urllib.parse.quote(key, safe='')}?alt=media")
