"""The ``gcp_cloudrun`` runtime builder: container images with the client's Lithops code, pushed to Artifact Registry.

``build(name, file)`` builds ``name`` (``name:tag`` in ``artifact_registry_repository``, or a full image URI) from
the Dockerfile ``file``, or from ``python:<client's Python>-slim`` with the Google client libraries, using whichever
of docker, podman or buildah is installed, logs in to the registry with an access token of the configured credentials
and pushes. ``deploy`` creates or updates the runtime's service and waits until it is Ready.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends import containers
from lithops.backends.runtime import CLIENT_PYTHON, RuntimeBuilder
from lithops.plugins.specs import ConfigKey
from lithops.standalone.bundle import build_bundle
from lithops_gcp.auth import gcp_errors
from lithops_gcp.gcp_cloudrun.services import CloudRunServices
from lithops_gcp.plugin import CLOUDRUN_CONFIG

logger = logging.getLogger(__name__)

#: The container's command: our HTTP worker entry point on $PORT.
COMMAND = ("python", "-m", "lithops_gcp.gcp_cloudrun.entry_point")
#: What the default image installs besides the code Lithops copies in (the storage backend's libraries).
PIP_PACKAGES = ("google-cloud-storage>=2.14", "google-auth>=2.26", "requests>=2.28")


class CloudRunRuntimeBuilder(RuntimeBuilder):
    """Builds, deploys, lists and deletes ``gcp_cloudrun`` runtimes."""

    config_schema: ClassVar[Mapping[str, ConfigKey]] = CLOUDRUN_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, lithops_config or {})
        self.services = CloudRunServices(self.config)

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build the image of runtime ``name`` and push it to Artifact Registry."""
        uri = self.services.image_uri(name)
        code, _ = build_bundle(["lithops_gcp"])
        tool = containers.build_image(uri, code, file, f"python:{CLIENT_PYTHON}-slim", list(COMMAND),
                                      "linux/amd64", extra_args or (), PIP_PACKAGES)
        with gcp_errors("Artifact Registry login"):
            import google.auth.transport.requests

            credentials = self.services.tokens.credentials
            credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
        containers.registry_login(tool, uri.split("/", 1)[0], "oauth2accesstoken", str(credentials.token))
        containers.push_image(tool, uri)
        logger.info("Runtime image %s built and pushed", uri)

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Create or update the service of runtime ``name`` and wait until it is Ready; return its metadata."""
        if timeout is not None:
            self.services.config["runtime_timeout"] = timeout
        memory = int(memory or self.config["runtime_memory"])
        name = self.services.runtime_name(name)
        self.services.forget(name, memory)
        info = self.services.ensure(name, memory)
        return {"runtime_name": name, "service": info.name, "uri": info.uri, "memory": memory,
                "python_version": info.python}

    def list(self) -> list[dict[str, Any]]:
        """The services Lithops deployed in the region."""
        return self.services.list()

    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete the services of runtime ``name`` (of one memory size, or all)."""
        self.services.delete(name, memory)
