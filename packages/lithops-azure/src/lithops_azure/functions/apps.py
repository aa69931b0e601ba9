"""The function apps of ``azure_functions``, deployed through the management API (azure-mgmt-web), without ``az``.

What ``deploy`` creates (and ``delete`` removes), in ``resource_group``: the function app
``lithops-<digest>-<memory>`` on its own Flex Consumption plan ``<app>-plan`` (a Flex plan holds one app); in the
storage account, the queues ``<app>`` and ``<app>-poison`` and the blob ``lithops-deployments/<app>.zip`` (the
app's package: our handler, the client's Lithops code, and ``requirements.txt`` with the worker's dependencies and
``runtime``'s, built remotely). The app is tagged with the package's digest: a client with other code deploys its
own package again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import zipfile
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from importlib import metadata
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.web import WebSiteManagementClient

from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.errors import BackendError, ConfigError
from lithops.standalone.bundle import build_bundle
from lithops_azure.arm import arm_client, wait
from lithops_azure.auth import (
    azure_errors,
    blob_service,
    connection_string,
    parse_connection_string,
    queue_service,
    required,
)

logger = logging.getLogger(__name__)

NAMESPACE = "Microsoft.Web"
DEPLOY_CONTAINER = "lithops-deployments"
TAG_CODE = "lithops-code"
ONEDEPLOY_API = "2024-04-01"
#: Seconds to wait for a package deployment (a remote build installs the requirements).
DEPLOY_TIMEOUT = 900.0

FUNCTION_APP = "from lithops_azure.functions.handler import app  # noqa: F401  (Lithops' function app)\n"


def requirements(extra: str | None) -> list[str]:
    """What the app's remote build installs: the worker's dependencies and the user's ``runtime`` requirements."""
    found: list[str] = []
    for dist in ("lithops-core", "lithops-azure"):
        for req in metadata.requires(dist) or []:
            if ";" not in req and not req.startswith(("lithops-", "azure-mgmt")):
                found.append(req)
    return list(dict.fromkeys(found + (extra or "").split()))


def package(config: Mapping[str, Any]) -> tuple[bytes, str]:
    """The app's zip package and its digest."""
    code, code_digest = build_bundle(["lithops_azure"])
    host = {"version": "2.0", "functionTimeout": str(timedelta(seconds=int(config["runtime_timeout"]))),
            "extensions": {"queues": {"maxDequeueCount": int(config["max_deliveries"]), "batchSize": 1}}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zipfile.ZipFile(io.BytesIO(code)) as bundle:
            for item in bundle.infolist():
                zf.writestr(item, bundle.read(item))
        zf.writestr("function_app.py", FUNCTION_APP)
        zf.writestr("host.json", json.dumps(host, indent=2))
        zf.writestr("requirements.txt", "\n".join(requirements(config.get("runtime"))) + "\n")
    data = buf.getvalue()
    digest = hashlib.sha256(code_digest.encode() + json.dumps(host).encode() +
                            str(config.get("runtime")).encode()).hexdigest()[:16]
    return data, digest


class FunctionApps:
    """Deploys, finds, invokes and deletes the function apps of an ``azure_functions`` section."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.resource_group = required(config, "resource_group", "azure_functions",
                                       "It is the resource group Lithops deploys its function apps in.")
        self.client = arm_client(WebSiteManagementClient, config, "azure_functions")
        self.queues = queue_service(config)
        self._ready: dict[int, Any] = {}

    def _conn(self) -> str:
        conn = connection_string(self.config)
        if not conn:
            raise ConfigError("azure_functions needs the storage account's connection string for the function app "
                              "(AzureWebJobsStorage) and its queue: set azure_storage.connection_string, or "
                              "storage_account_name with storage_account_key")
        return conn

    def names(self, memory: int) -> tuple[str, str]:
        """The plan and app names of a memory size (app names are global: they include the subscription)."""
        sub = self.client._config.subscription_id
        seed = f"{sub}|{self.resource_group}|{self.config.get('runtime')}|{CLIENT_PYTHON}"
        name = f"lithops-{hashlib.sha256(seed.encode()).hexdigest()[:10]}-{memory}"
        return f"{name}-plan", name

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with azure_errors(what, NAMESPACE):
            return fn(*args, **kwargs)

    def deploy(self, memory: int) -> Any:
        """Create (or update) the plan, the app and its queues, and deploy the package; return the app (a
        ``Site``).
        """
        conn = self._conn()
        region = required(self.config, "region", "azure_functions", "It is the region of the function apps.")
        plan_name, name = self.names(memory)
        for queue in (name, f"{name}-poison"):
            try:
                with azure_errors(f"creating storage queue {queue}"):
                    self.queues.create_queue(queue)
            except ResourceExistsError:
                pass
        blobs = blob_service(self.config)
        try:
            with azure_errors(f"creating blob container {DEPLOY_CONTAINER}"):
                blobs.create_container(DEPLOY_CONTAINER)
        except ResourceExistsError:
            pass
        logger.info("Deploying function app %s (%d MiB)", name, memory)
        plan = wait(self._call(f"creating Flex Consumption plan {plan_name}",
                               self.client.app_service_plans.begin_create_or_update, self.resource_group, plan_name,
                               {"location": region, "kind": "functionapp",
                                "sku": {"name": "FC1", "tier": "FlexConsumption"}, "properties": {"reserved": True}}),
                    f"creating Flex Consumption plan {plan_name}", NAMESPACE)
        data, digest = package(self.config)
        settings = {str(k): str(v) for k, v in (self.config.get("env_vars") or {}).items()}
        settings.update({
            "AzureWebJobsStorage": conn, "DEPLOYMENT_STORAGE_CONNECTION_STRING": conn,
            "LITHOPS_AZURE_QUEUE": name, "LITHOPS_RUNTIME_TIMEOUT": str(self.config["runtime_timeout"]),
            "LITHOPS_AZURE_MAX_DELIVERIES": str(self.config["max_deliveries"]),
            "LITHOPS_WORKER_PROCESSES": str(self.config["worker_processes"]),
        })
        site = {
            "location": region, "kind": "functionapp,linux", "tags": {TAG_CODE: digest},
            "properties": {
                "serverFarmId": plan.id,
                "siteConfig": {"appSettings": [{"name": k, "value": v} for k, v in settings.items()]},
                "functionAppConfig": {
                    "deployment": {"storage": {
                        "type": "blobContainer", "value": f"{blobs.url.rstrip('/')}/{DEPLOY_CONTAINER}",
                        "authentication": {
                            "type": "StorageAccountConnectionString",
                            "storageAccountConnectionStringName": "DEPLOYMENT_STORAGE_CONNECTION_STRING"}}},
                    "scaleAndConcurrency": {"maximumInstanceCount": int(self.config["max_workers"]),
                                            "instanceMemoryMB": memory},
                    "runtime": {"name": "python", "version": CLIENT_PYTHON},
                },
            },
        }
        wait(self._call(f"creating function app {name}", self.client.web_apps.begin_create_or_update,
                        self.resource_group, name, site), f"creating function app {name}", NAMESPACE)
        self._publish(name, data, blobs, conn)
        return self._call(f"reading function app {name}", self.client.web_apps.get, self.resource_group, name)

    def _publish(self, name: str, data: bytes, blobs: Any, conn: str) -> None:
        """Upload the package and deploy it with One Deploy (remote build), waiting for it to finish."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        blob = blobs.get_blob_client(DEPLOY_CONTAINER, f"{name}.zip")
        with azure_errors(f"uploading the package of function app {name}"):
            blob.upload_blob(data, overwrite=True)
        url = blob.url
        key = parse_connection_string(conn).get("AccountKey")
        if key:  # else the app's identity reads the deployment container
            sas = generate_blob_sas(blob.account_name, DEPLOY_CONTAINER, f"{name}.zip", account_key=key,
                                    permission=BlobSasPermissions(read=True),
                                    expiry=datetime.now(timezone.utc) + timedelta(hours=2))
            url = f"{url}?{sas}"
        path = (f"/subscriptions/{self.client._config.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Web/sites/{name}/extensions/onedeploy")
        body = {"properties": {"packageUri": url, "type": "zip", "remoteBuild": True}}
        with azure_errors(f"deploying the package of function app {name}", NAMESPACE):
            response = self.client._client.send_request(
                HttpRequest("PUT", f"{self.client._config.base_url.rstrip('/')}{path}",
                            params={"api-version": ONEDEPLOY_API}, json=body))
            response.raise_for_status()
        deadline = time.monotonic() + DEPLOY_TIMEOUT
        while True:
            status = self._call(f"reading the deployment of function app {name}",
                                self.client.web_apps.get_one_deploy_status, self.resource_group, name)
            state = str(((status or {}).get("properties") or {}).get("provisioningState") or "")
            if state == "Succeeded":
                return
            if state == "Failed":
                detail = ((status or {}).get("properties") or {}).get("errors") or status
                raise BackendError(f"deploying the package of function app {name} failed: {detail}. See the app's "
                                   f"deployment logs in the portal (Deployment Center).")
            if time.monotonic() > deadline:
                raise BackendError(f"deploying the package of function app {name} did not finish within "
                                   f"{DEPLOY_TIMEOUT:.0f} s")
            time.sleep(1)

    def ensure(self, memory: int) -> Any:
        """The runtime's app (deployed when missing, its package again when the code changed), Python checked."""
        if memory in self._ready:
            return self._ready[memory]
        _, name = self.names(memory)
        try:
            site = self._call(f"reading function app {name}", self.client.web_apps.get, self.resource_group, name)
        except ResourceNotFoundError:
            site = self.deploy(memory)
        if (site.tags or {}).get(TAG_CODE) != package(self.config)[1]:
            logger.info("Function app %s runs other Lithops code: deploying this client's", name)
            site = self.deploy(memory)
        runtime = (site.function_app_config or {}).get("runtime") or {}
        check_runtime_python(runtime.get("version"), f"the function app {name}",
                             f"run this client with Python {runtime.get('version')}, or delete the app "
                             f"('lithops runtime delete -b azure_functions') so that it is deployed again for "
                             f"Python {CLIENT_PYTHON}")
        self._ready[memory] = site
        return site

    def invoke_url(self, site: Any) -> str:
        """The URL of the HTTP trigger of an app (a ``Site``)."""
        base = str(self.config.get("invoke_endpoint") or "https://{host}")
        return base.replace("{host}", str(site.default_host_name)).rstrip("/") + "/api/lithops"

    def function_key(self, name: str) -> str:
        """A key of the app's functions (the host's default function key)."""
        keys = self._call(f"reading the keys of function app {name}", self.client.web_apps.list_host_keys,
                          self.resource_group, name)
        key = (keys.function_keys or {}).get("default") or keys.master_key
        if not key:
            raise BackendError(f"function app {name} has no function key yet; run again in a minute")
        return str(key)

    def delete(self, memory: int | None = None) -> None:
        """Delete the apps (of one memory size, or all), their plan, queues and packages."""
        from lithops_azure.plugin import FLEX_MEMORY

        blobs = blob_service(self.config)
        for size in [memory] if memory else list(FLEX_MEMORY):
            plan_name, name = self.names(size)
            self._call(f"deleting function app {name}", self.client.web_apps.delete, self.resource_group, name)
            for queue in (name, f"{name}-poison"):
                try:
                    self.queues.delete_queue(queue)
                except ResourceNotFoundError:
                    pass
            try:
                blobs.get_blob_client(DEPLOY_CONTAINER, f"{name}.zip").delete_blob()
            except ResourceNotFoundError:
                pass
            self._call(f"deleting plan {plan_name}", self.client.app_service_plans.delete, self.resource_group,
                       plan_name)
            self._ready.pop(size, None)
