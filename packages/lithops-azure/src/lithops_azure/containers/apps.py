"""The Container Apps of ``azure_containers``: one app per runtime image and memory size, each scaled on its own
Azure Storage queue, which also delivers its calls.

What ``deploy`` creates (and ``delete`` removes): the Container App ``lithops-<digest>-<memory>`` in
``resource_group`` and the queues ``lithops-<digest>-<memory>`` and ``...-poison`` in the storage account. The app
is tagged with the runtime and its Python version, which the client checks before it sends a job.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.mgmt.appcontainers import ContainerAppsAPIClient

from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.errors import ConfigError
from lithops_azure.arm import arm_client, wait
from lithops_azure.auth import azure_errors, connection_string, queue_service, required
from lithops_azure.plugin import CONTAINER_MEMORY_CPU

logger = logging.getLogger(__name__)

NAMESPACE = "Microsoft.App"
WORKER_COMMAND = ["python3", "-m", "lithops_azure.containers.entry_point"]
CONNECTION_SECRET = "storage-connection"
REGISTRY_SECRET = "registry-password"
TAG_RUNTIME, TAG_PYTHON = "lithops-runtime", "lithops-python"


def app_name(image: str, memory: int, environment_id: str) -> str:
    """The Container App (and queue) name of a runtime image and memory size in an environment (at most 32
    characters).
    """
    digest = hashlib.sha256(f"{image}|{CLIENT_PYTHON}|{environment_id.lower()}".encode()).hexdigest()[:10]
    return f"lithops-{digest}-{memory}"


class ContainerApps:
    """Deploys, finds and deletes the Container Apps of an ``azure_containers`` section."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.resource_group = required(config, "resource_group", "azure_containers",
                                       "It is the resource group of the Container Apps environment.")
        self.client = arm_client(ContainerAppsAPIClient, config, "azure_containers")
        self.queues = queue_service(config)
        self._ready: dict[tuple[str, int], str] = {}

    def image(self) -> str:
        """The runtime image: ``runtime``, or the default one on ``docker_server``."""
        runtime = self.config.get("runtime")
        if runtime:
            return str(runtime)
        server = self.config.get("docker_server")
        if not server:
            raise ConfigError("azure_containers needs a runtime image: set azure_containers.runtime to an image the "
                              "environment can pull, or docker_server (and docker_user, docker_password) so that "
                              "'lithops runtime build -b azure_containers' can build and push the default one")
        from importlib import metadata

        version = metadata.version("lithops-azure")
        return f"{server}/lithops-azure-default-py{CLIENT_PYTHON.replace('.', '')}:{version}"

    def environment_id(self) -> str:
        """The full resource id of the Container Apps environment."""
        given = self.config.get("environment_id")
        if given:
            return str(given)
        name = self.config.get("environment")
        if not name:
            raise ConfigError("azure_containers needs its Container Apps environment: set azure_containers.environment "
                              "(its name, in resource_group) or environment_id ('az containerapp env list -o table')")
        return (f"/subscriptions/{self.client._config.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.App/managedEnvironments/{name}")

    def envelope(self, image: str, memory: int, name: str) -> dict[str, Any]:
        """The Container App resource of a runtime: queue-scaled from zero, the worker command, the storage secret."""
        conn = connection_string(self.config)
        if not conn:
            raise ConfigError("azure_containers delivers calls through a storage queue, and its replicas need the "
                              "account's connection string: set azure_storage.connection_string, or "
                              "storage_account_name with storage_account_key")
        region = required(self.config, "region", "azure_containers", "It is the region of the environment.")
        secrets = [{"name": CONNECTION_SECRET, "value": conn}]
        registries = []
        if self.config.get("docker_server") and self.config.get("docker_user"):
            secrets.append({"name": REGISTRY_SECRET, "value": str(self.config.get("docker_password") or "")})
            registries.append({"server": self.config["docker_server"], "username": self.config["docker_user"],
                               "passwordSecretRef": REGISTRY_SECRET})
        env = [{"name": str(k), "value": str(v)} for k, v in (self.config.get("env_vars") or {}).items()]
        env += [
            {"name": "AZURE_STORAGE_CONNECTION_STRING", "secretRef": CONNECTION_SECRET},
            {"name": "LITHOPS_AZURE_QUEUE", "value": name},
            {"name": "LITHOPS_RUNTIME_TIMEOUT", "value": str(self.config["runtime_timeout"])},
            {"name": "LITHOPS_AZURE_VISIBILITY", "value": str(self.config["queue_visibility"])},
            {"name": "LITHOPS_AZURE_MAX_DELIVERIES", "value": str(self.config["max_deliveries"])},
        ]
        cpu = CONTAINER_MEMORY_CPU[memory]
        return {
            "location": region,
            "tags": {TAG_RUNTIME: image[:256], TAG_PYTHON: CLIENT_PYTHON},
            "properties": {
                "managedEnvironmentId": self.environment_id(),
                "configuration": {"activeRevisionsMode": "Single", "secrets": secrets, "registries": registries},
                "template": {
                    "containers": [{"name": "lithops", "image": image, "command": WORKER_COMMAND, "env": env,
                                    "resources": {"cpu": cpu, "memory": f"{memory / 1024:g}Gi"}}],
                    "scale": {"minReplicas": 0, "maxReplicas": int(self.config["max_workers"]), "rules": [{
                        "name": "calls", "azureQueue": {"queueName": name, "queueLength": 1, "auth": [
                            {"secretRef": CONNECTION_SECRET, "triggerParameter": "connection"}]}}]},
                },
            },
        }

    def build(self, dockerfile: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build the runtime image (from ``dockerfile`` or ``python:<client version>-slim``, with the worker's
        dependencies and the client's Lithops code) with docker, podman or buildah, and push it to ``docker_server``.
        """
        from lithops.backends.containers import build_image, push_image, registry_login
        from lithops.standalone.bundle import build_bundle
        from lithops_azure.functions.apps import requirements

        uri = self.image()
        code, _ = build_bundle(["lithops_azure"])
        tool = build_image(uri, code, dockerfile, f"python:{CLIENT_PYTHON}-slim", WORKER_COMMAND, "linux/amd64",
                           extra_args or (), pip_install=requirements(None),
                           hint="set azure_containers.runtime to an image built elsewhere")
        server, user = self.config.get("docker_server"), self.config.get("docker_user")
        if server and user:
            registry_login(tool, str(server), str(user), str(self.config.get("docker_password") or ""))
        push_image(tool, uri)

    def deploy(self, memory: int) -> str:
        """Create (or update) the runtime's Container App and queues, building and pushing the default image first
        when ``runtime`` is unset; return the queue name.
        """
        image = self.image()
        if not self.config.get("runtime"):
            self.build()
        name = app_name(image, memory, self.environment_id())
        for queue in (name, f"{name}-poison"):
            try:
                with azure_errors(f"creating storage queue {queue}"):
                    self.queues.create_queue(queue)
            except ResourceExistsError:
                pass
        logger.info("Deploying Container App %s (image %s, %d MiB)", name, image, memory)
        poller = self._call(f"creating Container App {name}", self.client.container_apps.begin_create_or_update,
                            self.resource_group, name, self.envelope(image, memory, name))
        wait(poller, f"creating Container App {name}", NAMESPACE)
        return name

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        with azure_errors(what, NAMESPACE):
            return fn(*args)

    def ensure(self, memory: int) -> str:
        """The queue of the runtime's app, deploying it when missing; checks the app's Python first."""
        image = self.image()
        key = (image, memory)
        if key in self._ready:
            return self._ready[key]
        name = app_name(image, memory, self.environment_id())
        try:
            app = self._call(f"reading Container App {name}", self.client.container_apps.get, self.resource_group,
                             name)
        except ResourceNotFoundError:
            self.deploy(memory)
            app = self._call(f"reading Container App {name}", self.client.container_apps.get, self.resource_group,
                             name)
        tags = dict(app.get("tags") or {})
        check_runtime_python(tags.get(TAG_PYTHON), f"the Container Apps runtime {image} (app {name})",
                             f"run this client with Python {tags.get(TAG_PYTHON)}, or set azure_containers.runtime "
                             f"to an image built from Python {CLIENT_PYTHON} and run again")
        self._ready[key] = name
        return name

    def list(self) -> list[dict[str, Any]]:
        """The deployed Lithops runtimes: ``[{'runtime_name', 'memory', 'version'}]``."""
        found = []
        with azure_errors("listing Container Apps", NAMESPACE):
            for app in self.client.container_apps.list_by_resource_group(self.resource_group):
                tags = dict(app.get("tags") or {})
                if TAG_RUNTIME in tags:
                    memory = int(str(app["name"]).rsplit("-", 1)[1])
                    found.append({"runtime_name": tags[TAG_RUNTIME], "memory": memory,
                                  "version": tags.get(TAG_PYTHON), "app": app["name"]})
        return found

    def delete(self, memory: int | None = None) -> None:
        """Delete the runtime's apps (of one memory size, or all) and their queues."""
        image = self.image()
        sizes = [memory] if memory else [int(r["memory"]) for r in self.list() if r["runtime_name"] == image]
        for size in sizes:
            name = app_name(image, size, self.environment_id())
            try:
                poller = self._call(f"deleting Container App {name}", self.client.container_apps.begin_delete,
                                    self.resource_group, name)
                wait(poller, f"deleting Container App {name}", NAMESPACE)
            except ResourceNotFoundError:
                pass
            for queue in (name, f"{name}-poison"):
                try:
                    self.queues.delete_queue(queue)
                except ResourceNotFoundError:
                    pass
            self._ready.pop((image, size), None)
