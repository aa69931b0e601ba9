"""Runtime images of both backends: built with the kernel's container tools (docker, podman or buildah) from the
user's Dockerfile or ``python:<client version>-slim``, with the client's own Lithops code inside, and pushed to the
configured registry (``docker_server``, logged in with ``docker_user``/``docker_password`` when they are set).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lithops.backends import containers
from lithops.backends.runtime import CLIENT_PYTHON
from lithops.errors import BackendError
from lithops.standalone.bundle import build_bundle

logger = logging.getLogger(__name__)

#: pip packages a worker needs for the storage backends whose SDK is not pure Lithops code.
STORAGE_SDKS: dict[str, list[str]] = {
    "aws_s3": ["boto3>=1.28.57"],
    "gcp_storage": ["google-cloud-storage"],
    "azure_storage": ["azure-storage-blob"],
    "ibm_cos": ["boto3>=1.28.57", "ibm-cloud-sdk-core>=3.16"],
}
#: Top-level modules of the plugins that provide those storage backends (shipped in the image's code).
STORAGE_MODULES: dict[str, str] = {"aws_s3": "lithops_aws", "gcp_storage": "lithops_gcp",
                                   "azure_storage": "lithops_azure", "ibm_cos": "lithops_ibm",
                                   "localhost": "lithops_localhost"}


def node_arch(cluster: Any) -> str:
    """The CPU architecture of the cluster's nodes (``kubernetes.io/arch``; amd64 when they cannot be listed)."""
    try:
        nodes = cluster.call("listing the cluster's nodes", cluster.core.list_node).items
    except BackendError as exc:
        logger.warning("%s; building for amd64 (set runtime_arch to choose)", exc)
        return "amd64"
    arches = sorted({(n.metadata.labels or {}).get("kubernetes.io/arch") or n.status.node_info.architecture
                     for n in nodes})
    if len(arches) > 1:
        logger.warning("the cluster's nodes are %s; building for %s (set runtime_arch to choose)", arches, arches[0])
    return arches[0] if arches else "amd64"


def build_and_push(section: Mapping[str, Any], lithops_config: Mapping[str, Any], image: str, arch: str,
                   dockerfile: str | None, command: Sequence[str], extra_args: Sequence[str] = ()) -> str:
    """Build ``image`` for ``linux/<arch>`` with Lithops' code and the storage SDK inside, push it; return the tool."""
    storage = str((lithops_config.get("lithops") or {}).get("storage") or "aws_s3")
    modules = ["lithops_kubernetes"] + ([STORAGE_MODULES[storage]] if storage in STORAGE_MODULES else [])
    code_zip, _ = build_bundle(modules)
    tool = containers.build_image(image, code_zip, dockerfile, f"python:{CLIENT_PYTHON}-slim", command,
                                  f"linux/{arch}", extra_args, pip_install=STORAGE_SDKS.get(storage, ()))
    if section.get("docker_user") and section.get("docker_password"):
        containers.registry_login(tool, str(section["docker_server"]), str(section["docker_user"]),
                                  str(section["docker_password"]))
    containers.push_image(tool, image)
    return tool
