"""A local fake of the Cloud Run Admin API v2 (REST), strict where the real one is, that runs each deployed service's
image as a local process serving our worker entry point.

Images are registered with :meth:`FakeCloudRun.push_image` (standing in for Artifact Registry): an image maps to the
command its container runs (by default ``python -m lithops_gcp.gcp_cloudrun.entry_point``). Creating or updating a
service returns a pending operation; a background thread starts the container (with the template's environment and
``PORT``) and, once it answers, makes the service Ready with ``uri`` pointing at this fake, which forwards
invocations carrying an ``Authorization`` header. An unknown image, or a container that exits or never listens,
fails the operation and the service's terminal condition with Cloud Run's messages.
"""

from __future__ import annotations

import copy
import re
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse
from lithops_gcp.testing.google_fake import GoogleFake, timestamp, validate_id

SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
ENTRY_POINT = [sys.executable, "-m", "lithops_gcp.gcp_cloudrun.entry_point"]
_PARENT = r"/v2/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)"
_MEMORY_RE = re.compile(r"\d+(Mi|Gi|M|G)")
_CPU_VALUES = {"0.08", "0.1", "0.125", "0.25", "0.5", "1", "2", "4", "6", "8", "1000m", "2000m", "4000m"}
#: Output-only fields a create request must not set.
_OUTPUT_ONLY = ("uid", "generation", "createTime", "updateTime", "uri", "reconciling", "terminalCondition",
                "latestReadyRevision", "latestCreatedRevision", "observedGeneration", "etag")


class FakeCloudRun(GoogleFake):
    """The Cloud Run Admin API v2 for one project."""

    def __init__(self, project: str, regions: Sequence[str] = ("us-east1",)) -> None:
        super().__init__(project, regions, "run.googleapis.com")
        self.images: dict[str, list[str]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.route("POST", _PARENT + "/services", self.create_service)
        self.route("GET", _PARENT + "/services", self.list_services)
        self.route("GET", _PARENT + r"/services/(?P<service>[^/:]+)", self.get_service)
        self.route("PATCH", _PARENT + r"/services/(?P<service>[^/:]+)", self.update_service)
        self.route("DELETE", _PARENT + r"/services/(?P<service>[^/:]+)", self.delete_service)

    def api_title(self) -> str:
        """As Google names it."""
        return "Cloud Run Admin API"

    def push_image(self, uri: str, command: list[str] | None = None) -> None:
        """Make ``uri`` pullable; its containers run ``command`` (default: our Cloud Run entry point)."""
        self.images[uri] = list(command or ENTRY_POINT)

    # -- validation ------------------------------------------------------------------------------------------
    def _check_template(self, service: dict[str, Any]) -> dict[str, Any]:
        template = service.get("template")
        if not isinstance(template, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "service.template: Field is required.")
        containers = template.get("containers") or []
        if not containers:
            raise ApiError(400, "INVALID_ARGUMENT", "service.template.containers: At least one container is required.")
        for i, container in enumerate(containers):
            if not container.get("image"):
                raise ApiError(400, "INVALID_ARGUMENT", f"service.template.containers[{i}].image: Field is required.")
            limits = (container.get("resources") or {}).get("limits") or {}
            if "memory" in limits and not _MEMORY_RE.fullmatch(str(limits["memory"])):
                raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value specified for container memory: "
                                                        f"{limits['memory']}.")
            if "cpu" in limits and str(limits["cpu"]) not in _CPU_VALUES:
                raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value specified for cpu: {limits['cpu']}.")
            for env in container.get("env") or []:
                if not env.get("name") or env["name"] == "PORT":
                    raise ApiError(400, "INVALID_ARGUMENT",
                                   f"service.template.containers[{i}].env: name is required and cannot be PORT.")
        timeout = str(template.get("timeout") or "300s")
        if not re.fullmatch(r"\d+(\.\d+)?s", timeout) or not 1 <= float(timeout[:-1]) <= 3600:
            raise ApiError(400, "INVALID_ARGUMENT", f"service.template.timeout: {timeout} must be between 1s and "
                                                    f"3600s.")
        return template

    # -- routes ----------------------------------------------------------------------------------------------
    def create_service(self, request: FakeRequest) -> FakeResponse:
        """POST .../services?serviceId=ID."""
        project, region = request.params["project"], request.params["region"]
        self.check_location(project, region)
        service_id = (request.query.get("serviceId") or [""])[0]
        validate_id(service_id, "service_id", r"[a-z]([-a-z0-9]*[a-z0-9])?", 49)
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "service: Field is required.")
        if body.get("name"):
            raise ApiError(400, "INVALID_ARGUMENT", "service.name must be empty: the name comes from service_id.")
        for output in _OUTPUT_ONLY:
            if output in body:
                raise ApiError(400, "INVALID_ARGUMENT", f"service.{output} is output only.")
        self._check_template(body)
        name = f"projects/{project}/locations/{region}/services/{service_id}"
        with self.lock:
            if name in self.services:
                raise ApiError(409, "ALREADY_EXISTS", f"Resource '{service_id}' already exists.")
            service = dict(body, name=name, uid=str(uuid.uuid4()), generation="1", createTime=timestamp(),
                           updateTime=timestamp(), reconciling=True,
                           terminalCondition={"type": "Ready", "state": "CONDITION_PENDING"})
            self.services[name] = service
        operation = self.new_operation(project, region, dict(service, **{"@type": SERVICE_TYPE}))
        self.in_background(lambda: self._roll_out(name, operation["name"]))
        return 200, operation

    def update_service(self, request: FakeRequest) -> FakeResponse:
        """PATCH .../services/ID (the whole service: a new revision)."""
        project, region = request.params["project"], request.params["region"]
        self.check_location(project, region)
        name = f"projects/{project}/locations/{region}/services/{request.params['service']}"
        body = request.json()
        if not isinstance(body, dict) or body.get("name") not in (None, name):
            raise ApiError(400, "INVALID_ARGUMENT", f"service.name must be {name}.")
        self._check_template(body)
        with self.lock:
            old = self.services.get(name)
            if old is None:
                raise ApiError(404, "NOT_FOUND", f"Resource '{request.params['service']}' was not found")
            service = dict(old, labels=body.get("labels", {}), template=body["template"], updateTime=timestamp(),
                           generation=str(int(old["generation"]) + 1), reconciling=True)
            self.services[name] = service
        operation = self.new_operation(project, region, dict(service, **{"@type": SERVICE_TYPE}))
        self.in_background(lambda: self._roll_out(name, operation["name"]))
        return 200, operation

    def _roll_out(self, name: str, operation: str) -> None:
        """Start the service's container; make it Ready, or fail with Cloud Run's message."""
        with self.lock:
            container = self.services[name]["template"]["containers"][0]
        image = container["image"]
        command = self.images.get(image)
        error: str | None = None
        if command is None:
            error = (f"Image '{image}' not found. Build and push it to Artifact Registry before deploying "
                     f"(revision {name.rsplit('/', 1)[-1]}-00001).")
        else:
            env = {e["name"]: e.get("value", "") for e in container.get("env") or []}
            try:
                self.start_worker(name.rsplit("/", 1)[-1], command, env)
            except RuntimeError as exc:
                error = ("The user-provided container failed to start and listen on the port defined provided by "
                         f"the PORT=8080 environment variable within the allocated timeout ({exc}).")
        with self.lock:
            service = self.services.get(name)
            if service is None:  # deleted meanwhile
                return
            service["reconciling"] = False
            if error is None:
                service["uri"] = self.worker_url(name.rsplit("/", 1)[-1])
                service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_SUCCEEDED",
                                                "lastTransitionTime": timestamp()}
                service["latestReadyRevision"] = f"{name}/revisions/{name.rsplit('/', 1)[-1]}-{service['generation']}"
            else:
                service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_FAILED", "message": error,
                                                "reason": "CONTAINER_MISSING" if command is None else "FAILED"}
            answer = dict(copy.deepcopy(service), **{"@type": SERVICE_TYPE})
        self.finish_operation(operation, None if error else answer, (9, error) if error else None)

    def get_service(self, request: FakeRequest) -> FakeResponse:
        """GET .../services/ID."""
        self.check_location(request.params["project"], request.params["region"])
        name = f"projects/{request.params['project']}/locations/{request.params['region']}/services/" \
               f"{request.params['service']}"
        with self.lock:
            service = self.services.get(name)
            if service is None:
                raise ApiError(404, "NOT_FOUND", f"Resource '{request.params['service']}' was not found")
            return 200, copy.deepcopy(service)

    def list_services(self, request: FakeRequest) -> FakeResponse:
        """GET .../services (one page)."""
        self.check_location(request.params["project"], request.params["region"])
        prefix = f"projects/{request.params['project']}/locations/{request.params['region']}/services/"
        with self.lock:
            found = [copy.deepcopy(s) for n, s in sorted(self.services.items()) if n.startswith(prefix)]
        return 200, {"services": found}

    def delete_service(self, request: FakeRequest) -> FakeResponse:
        """DELETE .../services/ID: stops its container."""
        project, region = request.params["project"], request.params["region"]
        self.check_location(project, region)
        name = f"projects/{project}/locations/{region}/services/{request.params['service']}"
        with self.lock:
            service = self.services.pop(name, None)
        if service is None:
            raise ApiError(404, "NOT_FOUND", f"Resource '{request.params['service']}' was not found")
        self.stop_worker(request.params["service"])
        operation = self.new_operation(project, region, dict(service, **{"@type": SERVICE_TYPE}))
        self.finish_operation(operation["name"], dict(service, **{"@type": SERVICE_TYPE}))
        return 200, operation
