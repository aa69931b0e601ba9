"""A local fake of the Cloud Functions API v2 (REST), strict where the real one is, that runs each deployed function's
source under Google's functions-framework as a local process.

``generateUploadUrl`` hands out an upload URL on this fake; the source zip PUT there is what ``create_function`` must
name in ``buildConfig.source.storageSource``. Deploying returns a pending operation; a background thread unpacks the
zip, runs ``functions-framework --target <entryPoint>`` (signature ``http``, or ``cloudevent`` for an event trigger)
with the service's environment, and makes the function ACTIVE with its URL on this fake (which forwards calls that
carry an ``Authorization`` header). A Pub/Sub event trigger needs the topic to exist on the Pub/Sub emulator given
to the fake; the fake then makes a push subscription from the topic to the function's process, as Eventarc does,
with an acknowledgement deadline above the function's timeout.
"""

from __future__ import annotations

import copy
import io
import re
import shutil
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Sequence
from typing import Any

import requests

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse
from lithops_gcp.testing.google_fake import GoogleFake, timestamp, validate_id

FUNCTION_TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"
PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"
#: Runtimes the fake accepts (it runs every one with this interpreter).
RUNTIMES = ("python38", "python39", "python310", "python311", "python312", "python313")
_PARENT = r"/v2/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)"
_MEMORY_RE = re.compile(r"\d+(M|Mi|G|Gi)")


class FakeCloudFunctions(GoogleFake):
    """The Cloud Functions API v2 for one project.

    Args:
        pubsub_host: ``host:port`` of the Pub/Sub emulator, for functions with a Pub/Sub trigger.
    """

    def __init__(self, project: str, regions: Sequence[str] = ("us-east1",), pubsub_host: str | None = None) -> None:
        super().__init__(project, regions, "cloudfunctions.googleapis.com")
        self.pubsub_host = pubsub_host
        self.uploads: dict[str, bytes] = {}
        self.functions: dict[str, dict[str, Any]] = {}
        self._folders: dict[str, str] = {}
        self.route("POST", _PARENT + "/functions:generateUploadUrl", self.generate_upload_url)
        self.route("PUT", r"/upload/(?P<object>[^/]+)", self.upload)
        self.route("POST", _PARENT + "/functions", self.create_function)
        self.route("GET", _PARENT + "/functions", self.list_functions)
        self.route("GET", _PARENT + r"/functions/(?P<function>[^/:]+)", self.get_function)
        self.route("PATCH", _PARENT + r"/functions/(?P<function>[^/:]+)", self.update_function)
        self.route("DELETE", _PARENT + r"/functions/(?P<function>[^/:]+)", self.delete_function)

    def api_title(self) -> str:
        """As Google names it."""
        return "Cloud Functions API"

    # -- sources ---------------------------------------------------------------------------------------------
    def generate_upload_url(self, request: FakeRequest) -> FakeResponse:
        """POST .../functions:generateUploadUrl."""
        self.check_location(request.params["project"], request.params["region"])
        obj = f"{uuid.uuid4()}.zip"
        return 200, {"uploadUrl": f"{self.url}/upload/{obj}",
                     "storageSource": {"bucket": f"gcf-v2-uploads-{self.project}", "object": obj}}

    def upload(self, request: FakeRequest) -> FakeResponse:
        """PUT the source zip to its upload URL (signed: no Authorization needed, a zip content type is)."""
        if request.header("content-type") != "application/zip":
            raise ApiError(400, "INVALID_ARGUMENT", "the upload's Content-Type must be application/zip")
        try:
            zipfile.ZipFile(io.BytesIO(request.body)).testzip()
        except zipfile.BadZipFile:
            raise ApiError(400, "INVALID_ARGUMENT", "the uploaded source is not a zip file") from None
        with self.lock:
            self.uploads[request.params["object"]] = request.body
        return 200, {}

    # -- validation ------------------------------------------------------------------------------------------
    def _check(self, body: Any, project: str) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "function: Field is required.")
        build = body.get("buildConfig") or {}
        if build.get("runtime") not in RUNTIMES:
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid runtime '{build.get('runtime')}': choose one of "
                                                    f"{', '.join(RUNTIMES)}.")
        if not build.get("entryPoint"):
            raise ApiError(400, "INVALID_ARGUMENT", "function.build_config.entry_point: Field is required.")
        source = (build.get("source") or {}).get("storageSource") or {}
        if source.get("object") not in self.uploads:
            raise ApiError(400, "INVALID_ARGUMENT", f"function.build_config.source: the storage source "
                                                    f"gs://{source.get('bucket')}/{source.get('object')} does not "
                                                    f"exist. Upload it to a generateUploadUrl URL first.")
        service = body.get("serviceConfig") or {}
        memory = str(service.get("availableMemory") or "256M")
        if not _MEMORY_RE.fullmatch(memory):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value for available_memory: {memory}.")
        trigger = body.get("eventTrigger")
        if trigger is not None:
            if trigger.get("eventType") != PUBSUB_EVENT:
                raise ApiError(400, "INVALID_ARGUMENT", f"Unsupported event type {trigger.get('eventType')} (this "
                                                        f"fake knows {PUBSUB_EVENT}).")
            topic = str(trigger.get("pubsubTopic") or "")
            if not re.fullmatch(rf"projects/{re.escape(project)}/topics/[A-Za-z][\w.~+%-]{{2,254}}", topic):
                raise ApiError(400, "INVALID_ARGUMENT", f"Invalid pubsub_topic '{topic}': expected "
                                                        f"projects/{project}/topics/TOPIC.")
            if int(service.get("timeoutSeconds") or 60) > 540:
                raise ApiError(400, "INVALID_ARGUMENT", "timeout_seconds of an event-triggered function must be at "
                                                        "most 540.")
            if self.pubsub_host is None:
                raise ApiError(400, "FAILED_PRECONDITION", "this fake has no Pub/Sub emulator for event triggers")
            if requests.get(f"http://{self.pubsub_host}/v1/{topic}", timeout=10).status_code != 200:
                raise ApiError(404, "NOT_FOUND", f"Topic {topic} does not exist.")

    # -- routes ----------------------------------------------------------------------------------------------
    def create_function(self, request: FakeRequest) -> FakeResponse:
        """POST .../functions?functionId=ID."""
        project, region = request.params["project"], request.params["region"]
        self.check_location(project, region)
        fid = (request.query.get("functionId") or [""])[0]
        validate_id(fid, "function_id", r"[a-z]([-a-z0-9]*[a-z0-9])?", 63)
        body = request.json()
        self._check(body, project)
        if body.get("name"):
            raise ApiError(400, "INVALID_ARGUMENT", "function.name must be empty: it comes from function_id.")
        name = f"projects/{project}/locations/{region}/functions/{fid}"
        with self.lock:
            if name in self.functions:
                raise ApiError(409, "ALREADY_EXISTS", f"Function {fid} in region {region} in project {project} "
                                                      f"already exists")
            self.functions[name] = dict(body, name=name, state="DEPLOYING", updateTime=timestamp(),
                                        environment="GEN_2")
        operation = self.new_operation(project, region, {"@type": "type.googleapis.com/google.cloud.functions.v2."
                                                                  "OperationMetadata", "target": name})
        self.in_background(lambda: self._deploy(name, operation["name"]))
        return 200, operation

    def update_function(self, request: FakeRequest) -> FakeResponse:
        """PATCH .../functions/ID."""
        project, region = request.params["project"], request.params["region"]
        self.check_location(project, region)
        name = f"projects/{project}/locations/{region}/functions/{request.params['function']}"
        body = request.json()
        self._check(body, project)
        with self.lock:
            if name not in self.functions:
                raise ApiError(404, "NOT_FOUND", f"Function {request.params['function']} does not exist")
            self.functions[name] = dict(body, name=name, state="DEPLOYING", updateTime=timestamp(),
                                        environment="GEN_2")
        operation = self.new_operation(project, region, {"@type": "type.googleapis.com/google.cloud.functions.v2."
                                                                  "OperationMetadata", "target": name})
        self.in_background(lambda: self._deploy(name, operation["name"]))
        return 200, operation

    def _deploy(self, name: str, operation: str) -> None:
        """Unpack the source and start functions-framework; make the function ACTIVE, or FAILED with the reason."""
        fid = name.rsplit("/", 1)[-1]
        with self.lock:
            function = copy.deepcopy(self.functions[name])
            data = self.uploads[function["buildConfig"]["source"]["storageSource"]["object"]]
        folder = tempfile.mkdtemp(prefix=f"fake-gcf-{fid}-")
        zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
        trigger = function.get("eventTrigger")
        service = function.get("serviceConfig") or {}
        command = [sys.executable, "-m", "functions_framework", "--target", function["buildConfig"]["entryPoint"],
                   "--signature-type", "cloudevent" if trigger else "http", "--source", f"{folder}/main.py",
                   "--host", "127.0.0.1"]
        env = {**(service.get("environmentVariables") or {}), "K_SERVICE": fid, "K_REVISION": f"{fid}-00001",
               "PYTHONPATH": folder}
        error = None
        try:
            worker = self.start_worker(fid, command, env)
            if trigger:
                self._subscribe(fid, trigger["pubsubTopic"], worker.url)
        except (RuntimeError, requests.RequestException) as exc:
            error = f"Function failed on loading user code. This is likely due to a bug in the user code ({exc})."
        with self.lock:
            old = self._folders.pop(fid, None)
            self._folders[fid] = folder
            current = self.functions.get(name)
            if current is None:
                return
            if error is None:
                current.update(state="ACTIVE", url=self.worker_url(fid), stateMessages=[])
                current.setdefault("serviceConfig", {})["uri"] = self.worker_url(fid)
            else:
                current.update(state="FAILED", stateMessages=[{"severity": "ERROR", "type": "DeploymentError",
                                                               "message": error}])
            answer = dict(copy.deepcopy(current), **{"@type": FUNCTION_TYPE})
        if old:
            shutil.rmtree(old, ignore_errors=True)
        self.finish_operation(operation, None if error else answer, (3, error) if error else None)

    def _subscribe(self, fid: str, topic: str, endpoint: str) -> None:
        """A push subscription from ``topic`` to the function's process, as Eventarc makes one."""
        subscription = f"projects/{self.project}/subscriptions/eventarc-{fid}"
        requests.delete(f"http://{self.pubsub_host}/v1/{subscription}", timeout=10)
        response = requests.put(f"http://{self.pubsub_host}/v1/{subscription}", timeout=10, json={
            "topic": topic, "pushConfig": {"pushEndpoint": f"{endpoint}/{topic}"}, "ackDeadlineSeconds": 600})
        if response.status_code != 200:
            raise RuntimeError(f"the Pub/Sub emulator refused the subscription: {response.text}")

    def get_function(self, request: FakeRequest) -> FakeResponse:
        """GET .../functions/ID."""
        self.check_location(request.params["project"], request.params["region"])
        name = f"projects/{request.params['project']}/locations/{request.params['region']}/functions/" \
               f"{request.params['function']}"
        with self.lock:
            function = self.functions.get(name)
            if function is None:
                raise ApiError(404, "NOT_FOUND", f"Function {request.params['function']} does not exist")
            return 200, copy.deepcopy(function)

    def list_functions(self, request: FakeRequest) -> FakeResponse:
        """GET .../functions (one page)."""
        self.check_location(request.params["project"], request.params["region"])
        prefix = f"projects/{request.params['project']}/locations/{request.params['region']}/functions/"
        with self.lock:
            return 200, {"functions": [copy.deepcopy(f) for n, f in sorted(self.functions.items())
                                       if n.startswith(prefix)]}

    def delete_function(self, request: FakeRequest) -> FakeResponse:
        """DELETE .../functions/ID: stops its process (and its push subscription)."""
        project, region = request.params["project"], request.params["region"]
        self.check_location(project, region)
        fid = request.params["function"]
        name = f"projects/{project}/locations/{region}/functions/{fid}"
        with self.lock:
            function = self.functions.pop(name, None)
            folder = self._folders.pop(fid, None)
        if function is None:
            raise ApiError(404, "NOT_FOUND", f"Function {fid} does not exist")
        if function.get("eventTrigger") and self.pubsub_host:
            requests.delete(f"http://{self.pubsub_host}/v1/projects/{self.project}/subscriptions/eventarc-{fid}",
                            timeout=10)
        self.stop_worker(fid)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        operation = self.new_operation(project, region, {"@type": "type.googleapis.com/google.cloud.functions.v2."
                                                                  "OperationMetadata", "target": name})
        self.finish_operation(operation["name"], {"@type": "type.googleapis.com/google.protobuf.Empty"})
        return 200, operation

    def stop(self) -> None:
        """Stop the functions, the API, and remove the unpacked sources."""
        super().stop()
        for folder in self._folders.values():
            shutil.rmtree(folder, ignore_errors=True)
