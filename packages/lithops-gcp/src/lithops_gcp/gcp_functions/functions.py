"""Cloud Functions control plane (2nd gen, google-cloud-functions ``functions_v2`` over REST): the source zip, naming,
deploying, waiting for ACTIVE, the Python check, listing and deleting; and the Pub/Sub topic of the pub/sub trigger.

A runtime is a requirements file (``gcp_functions.runtime``; none: only what Lithops needs). The function's source is
a zip of ``main.py`` (our handlers), the client's own Lithops code and a ``requirements.txt``; Cloud Build installs it
for the Python runtime of the client's version (``python311`` for Python 3.11). One function per runtime, memory
size, trigger and Lithops version: ``lithops-<version>-<runtime>-<memory>mb-<trigger>``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.cloud import functions_v2

from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.config import backend_settings
from lithops.errors import BackendError, ConfigError
from lithops.standalone.bundle import build_bundle
from lithops_gcp import __version__
from lithops_gcp.auth import gcp_errors, load_credentials, project_of, refused, region_of
from lithops_gcp.gcp_cloudrun.services import API_TIMEOUT
from lithops_gcp.invoker import TokenCache
from lithops_gcp.plugin import FUNCTIONS_CONFIG

logger = logging.getLogger(__name__)

PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"
LABEL_MANAGED, LABEL_CODE = "lithops-managed", "lithops-code"
#: Packages the functions need besides the code Lithops ships in the zip.
REQUIREMENTS = ("functions-framework>=3.5", "google-cloud-storage>=2.14", "google-auth>=2.26", "requests>=2.28")
MAIN_PY = ("# Lithops' Cloud Functions entry points (functions-framework targets main_http and main_pubsub)\n"
           "from lithops_gcp.gcp_functions.entry_point import main_http, main_pubsub  # noqa: F401\n")
_NAME_RE = re.compile(r"[^a-z0-9-]+")


def python_runtime(python: str = CLIENT_PYTHON) -> str:
    """The Cloud Functions runtime id of a Python ``major.minor`` (``python311``)."""
    return "python" + python.replace(".", "")


def runtime_python(runtime_id: str) -> str | None:
    """The Python ``major.minor`` of a Cloud Functions runtime id, or None for another language."""
    match = re.fullmatch(r"python(\d)(\d+)", runtime_id)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def runtime_key(requirements: str | None) -> str:
    """Name part of a runtime: ``default``, or the requirements file's name and a hash of its content."""
    if not requirements:
        return "default"
    with open(requirements, "rb") as f:
        digest = hashlib.sha1(f.read(), usedforsecurity=False).hexdigest()[:6]
    base = _NAME_RE.sub("-", os.path.basename(requirements).lower().rsplit(".", 1)[0]).strip("-")[:16]
    return f"{base or 'req'}-{digest}"


def function_id(runtime: str, memory: int, trigger: str, version: str = __version__) -> str:
    """The function of a runtime, memory size and trigger for this Lithops version (at most 63 characters)."""
    ver = _NAME_RE.sub("-", version.lower()).strip("-")
    kind = "pubsub" if trigger == "pub/sub" else "https"
    return f"lithops-{ver}-{runtime}-{memory}mb-{kind}"[:63].rstrip("-")


@dataclass
class FunctionInfo:
    """An ACTIVE function Lithops can invoke."""

    name: str
    uri: str
    topic: str | None
    python: str


class CloudFunctions:
    """Control-plane operations of ``gcp_functions`` and its runtime builder.

    Args:
        config: the ``gcp_functions`` section (its defaults filled in here, as a backend's are).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = backend_settings("gcp_functions", config, FUNCTIONS_CONFIG)
        self.endpoint = self.config.get("api_endpoint")
        credentials, found = load_credentials(self.config, anonymous_ok=bool(self.endpoint))
        self.credentials = credentials
        self.project = project_of(self.config, found)
        self.region = region_of(self.config, "gcp_functions")
        self.parent = f"projects/{self.project}/locations/{self.region}"
        options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
        self.client = functions_v2.FunctionServiceClient(credentials=credentials, transport="rest",
                                                         client_options=options)
        self.tokens = TokenCache(credentials)
        self.trigger = str(self.config["trigger"])
        self._lock = threading.Lock()
        self._ready: dict[tuple[str, int], FunctionInfo] = {}

    # -- the source ------------------------------------------------------------------------------------------
    def requirements(self) -> str | None:
        """The runtime's requirements file, checked to exist."""
        path = self.config.get("runtime")
        if path and not os.path.isfile(path):
            raise ConfigError(f"gcp_functions.runtime is {path}, which is not a file: it names a requirements file "
                              f"of the functions' extra packages (leave it unset for none).")
        return str(path) if path else None

    def source_zip(self) -> tuple[bytes, str]:
        """The function's source zip and a digest of it (the client's code and the requirements)."""
        code, digest = build_bundle(["lithops_gcp"])
        extra = ""
        path = self.requirements()
        if path:
            with open(path, encoding="utf-8") as f:
                extra = f.read()
        buf = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(code)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                dst.writestr(item, src.read(item.filename))
            dst.writestr("main.py", MAIN_PY)
            dst.writestr("requirements.txt", "\n".join(REQUIREMENTS) + "\n" + extra)
        data = buf.getvalue()
        return data, hashlib.sha256(digest.encode() + extra.encode()).hexdigest()[:16]

    def upload_source(self, data: bytes) -> dict[str, str]:
        """Upload the source zip to the URL Cloud Functions hands out; return its storage source."""
        answer = self.client.generate_upload_url(request={"parent": self.parent}, timeout=API_TIMEOUT)
        response = requests.put(answer.upload_url, data=data, headers={"Content-Type": "application/zip"},
                                timeout=300)
        if response.status_code not in (200, 201):
            raise BackendError(f"uploading the function's source to Cloud Storage failed ({response.status_code}: "
                               f"{response.text[:300]})")
        return {"bucket": answer.storage_source.bucket, "object_": answer.storage_source.object_}

    # -- deploying -------------------------------------------------------------------------------------------
    def topic_path(self, fid: str) -> str:
        """The Pub/Sub topic of a pub/sub-triggered function."""
        return f"projects/{self.project}/topics/{fid}"

    def ensure_topic(self, topic: str) -> None:
        """Create the Pub/Sub topic unless it exists (``PUBSUB_EMULATOR_HOST`` is honoured)."""
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # no type information

        publisher = pubsub_v1.PublisherClient(credentials=self.credentials)
        with gcp_errors(f"Pub/Sub topic {topic}"):
            try:
                publisher.create_topic(name=topic, timeout=API_TIMEOUT)
            except api_exceptions.AlreadyExists:
                pass

    def function_body(self, fid: str, memory: int, source: Mapping[str, str], digest: str) -> dict[str, Any]:
        """The Function resource (field names of the client)."""
        timeout = int(self.config["runtime_timeout"])
        env = {"LITHOPS_RUNTIME": str(self.config.get("runtime") or "default"), "LITHOPS_RUNTIME_MEMORY": str(memory),
               "LITHOPS_RUNTIME_TIMEOUT": str(timeout), **{k: str(v) for k, v in self.config["env_vars"].items()}}
        service: dict[str, Any] = {
            "available_memory": f"{memory}M", "timeout_seconds": timeout,
            "max_instance_count": int(self.config["max_workers"]), "max_instance_request_concurrency": 1,
            "environment_variables": env, "ingress_settings": "ALLOW_ALL"}
        if self.config.get("service_account"):
            service["service_account_email"] = self.config["service_account"]
        body: dict[str, Any] = {
            "labels": {LABEL_MANAGED: "true", LABEL_CODE: digest},
            "build_config": {"runtime": python_runtime(), "source": {"storage_source": dict(source)},
                             "entry_point": "main_pubsub" if self.trigger == "pub/sub" else "main_http"},
            "service_config": service,
        }
        if self.trigger == "pub/sub":
            body["event_trigger"] = {"event_type": PUBSUB_EVENT, "pubsub_topic": self.topic_path(fid),
                                     "retry_policy": "RETRY_POLICY_DO_NOT_RETRY"}
        return body

    def ensure(self, memory: int) -> FunctionInfo:
        """The ACTIVE function of the configured runtime with ``memory`` MiB: found, or deployed (again when the
        client's code or requirements changed); checked to run the client's Python version.
        """
        runtime = runtime_key(self.requirements())
        with self._lock:
            info = self._ready.get((runtime, memory))
            if info is None:
                info = self._deploy(runtime, memory)
                self._ready[(runtime, memory)] = info
            return info

    def forget(self) -> None:
        """Look the functions up again next time."""
        with self._lock:
            self._ready.clear()

    def _deploy(self, runtime: str, memory: int) -> FunctionInfo:
        fid = function_id(runtime, memory, self.trigger)
        name = f"{self.parent}/functions/{fid}"
        with gcp_errors(f"Cloud Function {name}", self.endpoint):
            try:
                current = self.client.get_function(name=name, timeout=API_TIMEOUT)
            except api_exceptions.NotFound:
                current = None
            if current is not None:
                found = runtime_python(current.build_config.runtime)
                check_runtime_python(found, f"the Cloud Function {name} (runtime {current.build_config.runtime})",
                                     f"delete it ('lithops runtime delete -b gcp_functions') so that Lithops deploys "
                                     f"it for Python {CLIENT_PYTHON}")
            data, digest = self.source_zip()
            if current is None or current.labels.get(LABEL_CODE) != digest:
                if self.trigger == "pub/sub":
                    self.ensure_topic(self.topic_path(fid))
                body = self.function_body(fid, memory, self.upload_source(data), digest)
                if current is None:
                    logger.info("Creating Cloud Function %s", name)
                    with refused(f"Cloud Functions refused to create {name}"):
                        operation = self.client.create_function(parent=self.parent, function_id=fid,
                                                                function=functions_v2.Function(body),
                                                                timeout=API_TIMEOUT)
                else:
                    logger.info("Updating Cloud Function %s (Lithops' code or the requirements changed)", name)
                    with refused(f"Cloud Functions refused to update {name}"):
                        operation = self.client.update_function(
                            function=functions_v2.Function(dict(body, name=name)), timeout=API_TIMEOUT)
                self._finish(operation, name)
            function = self.wait_active(name)
        return FunctionInfo(name, function.service_config.uri or function.url,
                            function.event_trigger.pubsub_topic or None, CLIENT_PYTHON)

    def _finish(self, operation: Any, name: str) -> None:
        timeout = float(self.config["deploy_timeout"])
        try:
            operation.result(timeout=timeout)
        except api_exceptions.GoogleAPICallError as exc:
            raise BackendError(f"Cloud Functions could not deploy {name}: {exc.message}") from None
        except TimeoutError:
            raise BackendError(f"Cloud Function {name} was not deployed within gcp_functions.deploy_timeout "
                               f"({timeout:.0f} s). Check its build in the Cloud Console, or raise "
                               f"deploy_timeout.") from None

    def wait_active(self, name: str) -> functions_v2.Function:
        """The function once ACTIVE; an error with Cloud Functions' messages when it FAILED or is not ACTIVE within
        ``deploy_timeout``.
        """
        timeout = float(self.config["deploy_timeout"])
        end = time.monotonic() + timeout
        state = functions_v2.Function.State
        while True:
            function = self.client.get_function(name=name, timeout=API_TIMEOUT)
            messages = "; ".join(m.message for m in function.state_messages) or state(function.state).name
            if function.state == state.ACTIVE and (function.service_config.uri or function.url):
                return function
            if function.state == state.FAILED:
                raise BackendError(f"Cloud Function {name} failed to deploy: {messages}. Fix the cause, then "
                                   f"'lithops runtime deploy -b gcp_functions' again.")
            if time.monotonic() > end:
                raise BackendError(f"Cloud Function {name} was not ACTIVE within gcp_functions.deploy_timeout "
                                   f"({timeout:.0f} s); last state: {messages}.")
            time.sleep(0.5)

    # -- listing and deleting --------------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """The functions Lithops deployed in the region."""
        result = []
        with gcp_errors("Cloud Functions list", self.endpoint):
            for function in self.client.list_functions(parent=self.parent, timeout=API_TIMEOUT):
                if function.labels.get(LABEL_MANAGED) != "true":
                    continue
                env = function.service_config.environment_variables
                memory = str(function.service_config.available_memory or "0M").rstrip("MiG")
                result.append({"runtime_name": env.get("LITHOPS_RUNTIME", "default"), "memory": int(memory or 0),
                               "version": __version__, "function": function.name,
                               "python_version": runtime_python(function.build_config.runtime)})
        return result

    def delete(self, runtime: str, memory: int | None = None) -> None:
        """Delete the functions of ``runtime`` (a requirements file, or ``default``), of one memory size or all."""
        for entry in self.list():
            if entry["runtime_name"] == runtime and (memory is None or entry["memory"] == memory):
                with gcp_errors(f"Cloud Functions delete {entry['function']}", self.endpoint):
                    try:
                        self.client.delete_function(name=entry["function"], timeout=API_TIMEOUT).result(
                            timeout=float(self.config["deploy_timeout"]))
                    except api_exceptions.NotFound:
                        pass
        self.forget()
