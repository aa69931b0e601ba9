"""Cloud Run control plane (Admin API v2, google-cloud-run over REST): naming, deploying, waiting for, checking,
listing and deleting Lithops' services.

A runtime is a container image whose command is ``python -m lithops_gcp.gcp_cloudrun.entry_point``, built and pushed
to Artifact Registry by the runtime builder. One service per runtime, memory size and Lithops version:
``lithops-<version>-<runtime>-<memory>mb``. A service is used only once it is Ready (its latest revision serves
traffic) and its runtime has answered with the client's Python version; a revision that fails to become ready is an
error with Cloud Run's own message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.cloud import run_v2

from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.config import backend_settings
from lithops.errors import BackendError
from lithops_gcp import __version__
from lithops_gcp.auth import gcp_errors, load_credentials, project_of, refused, region_of
from lithops_gcp.invoker import TokenCache, wait_answering
from lithops_gcp.plugin import CLOUDRUN_CONFIG

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"[^a-z0-9-]+")
LABEL_RUNTIME, LABEL_SETTINGS, LABEL_MANAGED = "lithops-runtime", "lithops-settings", "lithops-managed"
#: Seconds each Admin API request may take.
API_TIMEOUT = 60.0


def default_runtime_name() -> str:
    """Name of the default runtime image for the client's Python version."""
    return f"default-runtime-v{sys.version_info.major}{sys.version_info.minor}"


def service_id(runtime: str, memory: int, version: str = __version__) -> str:
    """The service of a runtime and memory size for this Lithops version: lower case, at most 49 characters, as
    Cloud Run requires; long or full-URI runtimes get a hash so that two never share a name.
    """
    short = runtime.rsplit("/", 1)[-1].lower()
    base = _NAME_RE.sub("-", short).strip("-") or "runtime"
    ver = _NAME_RE.sub("-", version.lower()).strip("-")
    name = f"lithops-{ver}-{base}-{memory}mb"
    if len(name) > 49 or short != runtime.lower():
        digest = hashlib.sha1(f"{runtime}|{memory}|{version}".encode(), usedforsecurity=False).hexdigest()[:8]
        tail = f"-{digest}-{memory}mb"
        name = f"lithops-{ver}-{base}"[: 49 - len(tail)].rstrip("-") + tail
    return name


def label_value(text: str) -> str:
    """``text`` as a label value Cloud Run accepts (lower case, at most 63 characters)."""
    return _NAME_RE.sub("_", text.lower().replace("_", "-"))[:63]


@dataclass
class ServiceInfo:
    """A Ready service Lithops can invoke."""

    name: str
    uri: str
    runtime: str
    memory: int
    python: str


class CloudRunServices:
    """Control-plane operations of ``gcp_cloudrun`` and its runtime builder.

    Args:
        config: the ``gcp_cloudrun`` section (its defaults filled in here, as a backend's are).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = backend_settings("gcp_cloudrun", config, CLOUDRUN_CONFIG)
        self.endpoint = self.config.get("api_endpoint")
        credentials, found = load_credentials(self.config, anonymous_ok=bool(self.endpoint))
        self.project = project_of(self.config, found)
        self.region = region_of(self.config, "gcp_cloudrun")
        self.parent = f"projects/{self.project}/locations/{self.region}"
        options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
        self.client = run_v2.ServicesClient(credentials=credentials, transport="rest", client_options=options)
        self.tokens = TokenCache(credentials)
        self._lock = threading.Lock()
        self._ready: dict[tuple[str, int], ServiceInfo] = {}

    # -- names -----------------------------------------------------------------------------------------------
    def runtime_name(self, runtime: str | None = None) -> str:
        """The runtime to use: the given one, the configured one, or the default."""
        return runtime or self.config.get("runtime") or default_runtime_name()

    def image_uri(self, runtime: str) -> str:
        """The image of a runtime: a full URI as given, else ``name[:tag]`` in ``artifact_registry_repository``."""
        first = runtime.split("/", 1)[0]
        if "/" in runtime and ("." in first or ":" in first):
            uri = runtime
        else:
            repo = self.config["artifact_registry_repository"]
            uri = f"{self.region}-docker.pkg.dev/{self.project}/{repo}/{runtime}"
        if ":" not in uri.rsplit("/", 1)[-1] and "@" not in uri:
            uri += f":{__version__}" if runtime == default_runtime_name() else ":latest"
        return uri

    def service_path(self, runtime: str, memory: int) -> str:
        """The full resource name of the service of ``runtime`` with ``memory`` MiB."""
        return f"{self.parent}/services/{service_id(runtime, memory)}"

    # -- deploying -------------------------------------------------------------------------------------------
    def service_body(self, runtime: str, memory: int) -> dict[str, Any]:
        """The Service resource of a runtime and memory size (Admin API v2, field names of the client)."""
        timeout = int(self.config["runtime_timeout"])
        env = {"LITHOPS_RUNTIME": runtime, "LITHOPS_RUNTIME_MEMORY": str(memory),
               "LITHOPS_RUNTIME_TIMEOUT": str(timeout), **{k: str(v) for k, v in self.config["env_vars"].items()}}
        template: dict[str, Any] = {
            "containers": [{
                "image": self.image_uri(runtime),
                "resources": {"limits": {"cpu": f"{float(self.config['runtime_cpu']):g}", "memory": f"{memory}Mi"},
                              "cpu_idle": True},
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "ports": [{"container_port": 8080}],
            }],
            "timeout": f"{timeout}s",
            # one payload per instance at a time, as a Lambda sandbox: the calls get the whole container
            "max_instance_request_concurrency": 1,
            "scaling": {"min_instance_count": int(self.config["min_workers"]),
                        "max_instance_count": int(self.config["max_workers"])},
        }
        if self.config.get("service_account"):
            template["service_account"] = self.config["service_account"]
        settings = hashlib.sha1(json.dumps(template, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
        return {"labels": {LABEL_MANAGED: "true", LABEL_RUNTIME: label_value(runtime),
                           LABEL_SETTINGS: settings[:16]},
                "template": template, "ingress": "INGRESS_TRAFFIC_ALL"}

    def ensure(self, runtime: str | None, memory: int) -> ServiceInfo:
        """The Ready service of ``runtime`` with ``memory`` MiB: found, updated when its settings changed, or
        created; then checked to run the client's Python version.
        """
        runtime = self.runtime_name(runtime)
        key = (runtime, memory)
        with self._lock:
            info = self._ready.get(key)
            if info is None:
                info = self._deploy(runtime, memory)
                self._ready[key] = info
            return info

    def forget(self, runtime: str, memory: int) -> None:
        """Look the service up again next time (it was deleted or changed)."""
        with self._lock:
            self._ready.pop((runtime, memory), None)

    def _deploy(self, runtime: str, memory: int) -> ServiceInfo:
        name = self.service_path(runtime, memory)
        body = self.service_body(runtime, memory)
        with gcp_errors(f"Cloud Run service {name}", self.endpoint):
            try:
                current = self.client.get_service(name=name, timeout=API_TIMEOUT)
            except api_exceptions.NotFound:
                current = None
            if current is None:
                image = body["template"]["containers"][0]["image"]
                logger.info("Creating Cloud Run service %s (image %s)", name, image)
                with refused(f"Cloud Run refused to create service {name}"):
                    operation = self.client.create_service(parent=self.parent, service_id=name.rsplit("/", 1)[-1],
                                                           service=run_v2.Service(body), timeout=API_TIMEOUT)
                self._finish(operation, name)
                current = None
            elif current.labels.get(LABEL_SETTINGS) != body["labels"][LABEL_SETTINGS]:
                logger.info("Updating Cloud Run service %s (its settings changed)", name)
                with refused(f"Cloud Run refused to update service {name}"):
                    operation = self.client.update_service(service=run_v2.Service(dict(body, name=name)),
                                                           timeout=API_TIMEOUT)
                self._finish(operation, name)
                current = None
            service = self.wait_ready(name, current)
        python = self.runtime_python(service.uri, name)
        check_runtime_python(python, f"the Cloud Run runtime '{runtime}' (service {name})",
                             f"build the runtime for Python {CLIENT_PYTHON}: 'lithops runtime build -b gcp_cloudrun "
                             f"{runtime}' from a Python {CLIENT_PYTHON} client (or set gcp_cloudrun.runtime to an "
                             f"image with Python {CLIENT_PYTHON}), then 'lithops runtime deploy -b gcp_cloudrun "
                             f"{runtime}'")
        return ServiceInfo(name, service.uri, runtime, memory, str(python))

    def _finish(self, operation: Any, name: str) -> None:
        """Wait for a create/update operation; a failed one is an error with Cloud Run's message."""
        timeout = float(self.config["deploy_timeout"])
        try:
            operation.result(timeout=timeout)
        except api_exceptions.GoogleAPICallError as exc:
            raise BackendError(f"Cloud Run could not deploy service {name}: {exc.message}") from None
        except TimeoutError:  # concurrent.futures.TimeoutError on Python 3.10
            raise BackendError(
                f"Cloud Run service {name} was not deployed within gcp_cloudrun.deploy_timeout ({timeout:.0f} s). "
                f"Check its revisions in the Cloud Console (or 'gcloud run services describe'), or raise "
                f"deploy_timeout.") from None

    def wait_ready(self, name: str, service: run_v2.Service | None = None) -> run_v2.Service:
        """The service once Ready (its latest revision serves), polling it (from ``service``, a fresh copy, when
        given); an error with Cloud Run's message when the revision fails, or when it is not ready within
        ``deploy_timeout``.
        """
        timeout = float(self.config["deploy_timeout"])
        end = time.monotonic() + timeout
        delay = 0.2
        while True:
            if service is None:
                service = self.client.get_service(name=name, timeout=API_TIMEOUT)
            condition = service.terminal_condition
            state = run_v2.Condition.State
            if condition.state == state.CONDITION_SUCCEEDED and not service.reconciling and service.uri:
                return service
            if condition.state == state.CONDITION_FAILED and not service.reconciling:
                raise BackendError(f"Cloud Run service {name} is not ready: {condition.message or condition.reason}."
                                   f" Fix the cause, then 'lithops runtime deploy -b gcp_cloudrun' again.")
            if time.monotonic() > end:
                raise BackendError(
                    f"Cloud Run service {name} was not ready within gcp_cloudrun.deploy_timeout ({timeout:.0f} s); "
                    f"last condition: {condition.message or state(condition.state).name}. Check the service's "
                    f"revisions and logs, or raise deploy_timeout.")
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)
            service = None

    def runtime_python(self, uri: str, name: str) -> str | None:
        """The Python ``major.minor`` the service's runtime reports."""
        from lithops_gcp.invoker import HttpInvoker

        invoker = HttpInvoker("Cloud Run", self.tokens, 1, API_TIMEOUT, max_retries=0)
        answer = wait_answering(lambda: invoker.post(uri, {"lithops_action": "metadata"}, timeout=API_TIMEOUT),
                                f"Cloud Run service {name} ({uri})", 60.0)
        python = answer.get("python_version")
        return str(python) if python else None

    # -- listing and deleting --------------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """The services Lithops deployed in the region."""
        result = []
        with gcp_errors("Cloud Run list services", self.endpoint):
            for service in self.client.list_services(parent=self.parent, timeout=API_TIMEOUT):
                if service.labels.get(LABEL_MANAGED) != "true":
                    continue
                container = service.template.containers[0] if service.template.containers else None
                memory = str(container.resources.limits.get("memory", "0Mi")) if container else "0Mi"
                env = {e.name: e.value for e in container.env} if container else {}
                result.append({"runtime_name": env.get("LITHOPS_RUNTIME", service.labels.get(LABEL_RUNTIME, "")),
                               "memory": int(memory.rstrip("Mi") or 0), "version": __version__,
                               "service": service.name, "uri": service.uri})
        return result

    def delete(self, runtime: str, memory: int | None = None) -> None:
        """Delete the services of ``runtime`` (of one memory size, or all)."""
        for entry in self.list():
            if entry["runtime_name"] == runtime and (memory is None or entry["memory"] == memory):
                with gcp_errors(f"Cloud Run delete {entry['service']}", self.endpoint):
                    try:
                        self.client.delete_service(name=entry["service"], timeout=API_TIMEOUT).result(
                            timeout=float(self.config["deploy_timeout"]))
                    except api_exceptions.NotFound:
                        pass
                self.forget(runtime, entry["memory"])
