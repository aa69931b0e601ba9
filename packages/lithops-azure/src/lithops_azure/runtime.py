"""Runtime builders of ``lithops runtime build|deploy|list|delete`` for ``azure_containers`` (container images
pushed to ``docker_server``, and their Container Apps) and ``azure_functions`` (function apps; their package is
made at deploy time, so ``build`` has nothing to do).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends.runtime import CLIENT_PYTHON, RuntimeBuilder
from lithops.plugins.specs import ConfigKey
from lithops_azure.containers.apps import ContainerApps
from lithops_azure.functions.apps import FunctionApps
from lithops_azure.plugin import CONTAINERS_CONFIG, FLEX_MEMORY, FUNCTIONS_CONFIG


class ContainersRuntimeBuilder(RuntimeBuilder):
    """Builds and pushes worker images; deploys, lists and deletes their Container Apps."""

    config_schema: ClassVar[Mapping[str, ConfigKey]] = CONTAINERS_CONFIG

    def _apps(self, name: str | None) -> ContainerApps:
        if name:
            self.config["runtime"] = name
        return ContainerApps(self.config)

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build image ``name`` (default: the default runtime's) from the Dockerfile ``file`` or
        ``python:<client version>-slim``, with the worker's dependencies and Lithops' code, and push it.
        """
        self._apps(name).build(file, extra_args)

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Create (or update) the Container App and queues of image ``name``."""
        if timeout is not None:
            self.config["runtime_timeout"] = timeout
        memory = int(memory or self.config["runtime_memory"])
        apps = self._apps(name)
        app = apps.deploy(memory)
        return {"runtime_name": apps.image(), "memory": memory, "container_app": app, "queue": app,
                "python_version": CLIENT_PYTHON}

    def list(self) -> list[dict[str, Any]]:
        """The deployed runtimes: ``[{'runtime_name', 'memory', 'version', 'app'}]``."""
        return ContainerApps(self.config).list()

    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete the Container Apps and queues of image ``name``."""
        self._apps(name).delete(memory)


class FunctionsRuntimeBuilder(RuntimeBuilder):
    """Deploys, lists and deletes function apps (``name``: the ``runtime`` requirements, or empty)."""

    config_schema: ClassVar[Mapping[str, ConfigKey]] = FUNCTIONS_CONFIG

    def _apps(self, name: str | None) -> FunctionApps:
        if name:
            self.config["runtime"] = name
        return FunctionApps(self.config)

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Nothing to build: the app's package is made and built remotely when it is deployed."""

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Create (or update) the function app of ``name`` and deploy its package."""
        if timeout is not None:
            self.config["runtime_timeout"] = timeout
        memory = int(memory or self.config["runtime_memory"])
        site = self._apps(name).deploy(memory)
        return {"runtime_name": name, "memory": memory, "function_app": site.name,
                "python_version": CLIENT_PYTHON}

    def list(self) -> list[dict[str, Any]]:
        """The deployed function apps of the configured runtime: ``[{'runtime_name', 'memory', 'version'}]``."""
        from azure.core.exceptions import ResourceNotFoundError

        apps = FunctionApps(self.config)
        found = []
        for memory in FLEX_MEMORY:
            _, app = apps.names(memory)
            try:
                site = apps.client.web_apps.get(apps.resource_group, app)
            except ResourceNotFoundError:
                continue
            runtime = (site.function_app_config or {}).get("runtime") or {}
            found.append({"runtime_name": self.config.get("runtime") or "default", "memory": memory,
                          "version": runtime.get("version"), "app": app})
        return found

    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete the function apps of ``name`` (their plans, queues and packages too)."""
        self._apps(name if name != "default" else None).delete(memory)
