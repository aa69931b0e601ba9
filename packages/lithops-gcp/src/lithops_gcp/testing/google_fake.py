"""What the local fakes of Google control planes share: long-running operations as Google returns them, the
deployed workers as local processes, and their URLs served through the fake (which, as Google's front end, refuses
invocations without an identity token).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, FakeService
from lithops.worker.http_service import TOKEN_HEADER
from lithops_gcp.testing.emulators import free_port, wait_http

#: Seconds a local worker process gets to answer its readiness probe.
START_TIMEOUT = 60.0


@dataclass
class LocalWorker:
    """A deployed service or function running as a local process on ``port``.

    Entry points served by :mod:`lithops.worker.http_service` listen on loopback only and require ``token``
    (which the fake's front end adds when it forwards), so no other local user can hand them a payload.
    """

    command: list[str]
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process (its own process group) and wait until it answers GET /."""
        env = {**os.environ, **self.env, "PORT": str(self.port), "LITHOPS_HTTP_HOST": "127.0.0.1",
               "LITHOPS_HTTP_TOKEN": self.token}
        self.proc = subprocess.Popen(self.command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_http(self.url + "/", START_TIMEOUT, self.proc)

    def stop(self) -> None:
        """Stop the process and its children."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None


def validate_id(value: str, what: str, pattern: str, max_len: int) -> None:
    """Refuse a resource id as Google does."""
    import re

    if not value or len(value) > max_len or not re.fullmatch(pattern, value):
        raise ApiError(400, "INVALID_ARGUMENT",
                       f"Invalid value specified for {what}: '{value}' must match {pattern} and have at most "
                       f"{max_len} characters.")


def timestamp() -> str:
    """Now, as Google's JSON timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class GoogleFake(FakeService):
    """A fake Google API: one project, some regions, operations, and local workers behind ``/workers/<id>/``.

    Args:
        project: the only project that exists.
        regions: the regions the API serves.
        api: host name of the API, for the "has not been used in project" message of a disabled API.
    """

    def __init__(self, project: str, regions: Sequence[str], api: str) -> None:
        super().__init__()
        self.project = project
        self.regions = set(regions)
        self.api = api
        #: set to False to answer as a project that has not enabled the API
        self.api_enabled = True
        self.operations: dict[str, dict[str, Any]] = {}
        self.workers: dict[str, LocalWorker] = {}
        #: POST requests forwarded to workers
        self.invocations = 0
        self.route("GET", r"/v\d+/(?P<name>projects/[^/]+/locations/[^/]+/operations/[^/:]+)", self.get_operation)
        for method in ("GET", "POST"):
            self.route(method, r"/workers/(?P<worker>[^/]+)(?P<rest>/.*)?", self.invoke_worker)

    # -- checks ----------------------------------------------------------------------------------------------
    def authorize(self, request: FakeRequest) -> None:
        """A disabled API answers every control-plane request with Google's 403 naming the API to enable."""
        if not self.api_enabled and not request.path.startswith("/workers/"):
            raise ApiError(403, "PERMISSION_DENIED",
                           f"{self.api_title()} has not been used in project {self.project} before or it is "
                           f"disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
                           f"{self.api}/overview?project={self.project} then retry.")

    def api_title(self) -> str:
        """The API's title in Google's messages."""
        return self.api

    def check_location(self, project: str, region: str) -> None:
        """Refuse another project (403, as for a project one cannot see) or a region the API does not serve."""
        if project != self.project:
            raise ApiError(403, "PERMISSION_DENIED",
                           f"Permission denied on resource project {project} (or it may not exist).")
        if region not in self.regions:
            raise ApiError(404, "NOT_FOUND", f"Location {region} is not found or access is unauthorized.")

    # -- operations ------------------------------------------------------------------------------------------
    def new_operation(self, project: str, region: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """A pending long-running operation, as the create/update/delete methods return it."""
        name = f"projects/{project}/locations/{region}/operations/{uuid.uuid4()}"
        operation = {"name": name, "metadata": dict(metadata), "done": False}
        with self.lock:
            self.operations[name] = operation
        return dict(operation)

    def finish_operation(self, name: str, response: Mapping[str, Any] | None = None,
                         error: tuple[int, str] | None = None) -> None:
        """Mark an operation done with its response, or with an error (google.rpc.Status code and message)."""
        with self.lock:
            operation = self.operations[name]
            operation["done"] = True
            if error is not None:
                operation["error"] = {"code": error[0], "message": error[1]}
            elif response is not None:
                operation["response"] = dict(response)

    def get_operation(self, request: FakeRequest) -> FakeResponse:
        """GET an operation."""
        with self.lock:
            operation = self.operations.get(request.params["name"])
            if operation is None:
                raise ApiError(404, "NOT_FOUND", f"Operation {request.params['name']} not found.")
            return 200, dict(operation)

    def in_background(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in a daemon thread (the slow part of an operation)."""
        threading.Thread(target=fn, daemon=True, name=f"{type(self).__name__}-operation").start()

    # -- workers ---------------------------------------------------------------------------------------------
    def worker_url(self, worker_id: str) -> str:
        """The public URL of a local worker, through this fake."""
        return f"{self.url}/workers/{worker_id}"

    def start_worker(self, worker_id: str, command: list[str], env: Mapping[str, str]) -> LocalWorker:
        """Start (or restart) a worker process; raises RuntimeError if it does not come up."""
        self.stop_worker(worker_id)
        worker = LocalWorker(command, dict(env))
        with self.lock:
            self.workers[worker_id] = worker
        worker.start()
        return worker

    def stop_worker(self, worker_id: str) -> None:
        """Stop a worker process, if it runs."""
        with self.lock:
            worker = self.workers.pop(worker_id, None)
        if worker is not None:
            worker.stop()

    def invoke_worker(self, request: FakeRequest) -> FakeResponse:
        """Forward an invocation to its worker; without ``Authorization: Bearer <token>`` a 401, as Google's front
        end answers unauthenticated calls to a private service.
        """
        auth = request.header("authorization")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            raise ApiError(401, "UNAUTHENTICATED", "Your client does not have permission to the requested URL "
                                                   "(no identity token in the Authorization header).")
        with self.lock:
            worker = self.workers.get(request.params["worker"])
            self.invocations += request.method == "POST"
        if worker is None or worker.proc is None:
            raise ApiError(404, "NOT_FOUND", f"The requested URL {request.path} was not found on this server.")
        headers = {k: v for k, v in request.headers.items() if k in ("content-type", "ce-id", "ce-type",
                                                                       "ce-source", "ce-specversion")}
        headers[TOKEN_HEADER] = worker.token
        try:
            response = requests.request(request.method, worker.url + (request.params.get("rest") or "/"),
                                        data=request.body, headers=headers, timeout=3600)
        except requests.ConnectionError:
            raise ApiError(503, "UNAVAILABLE", "The service is unavailable (its instance stopped).") from None
        return response.status_code, response.content, {"Content-Type": response.headers.get("Content-Type",
                                                                                               "text/plain")}

    def stop(self) -> None:
        """Stop the workers and the API."""
        for worker_id in list(self.workers):
            self.stop_worker(worker_id)
        super().stop()
