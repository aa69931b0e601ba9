"""A local Function Compute 3.0 API for tests and benchmarks (no emulator exists): the control-plane calls Lithops
makes, at the HTTP level, and invocations run as local processes with the real handler.

It refuses what FC refuses:

- a request without a valid ``ACS3-HMAC-SHA256`` signature of one of its access keys (all the headers the
  ``SignedHeaders`` list names, the sorted query, the body's SHA-256 in ``x-acs-content-sha256``), or without
  ``x-acs-action``/``x-acs-version``/``x-acs-date``: 401/403 in FC's error shape (``{"Code", "Message",
  "RequestId"}``);
- CreateFunction without ``functionName``, ``runtime``, ``handler`` or code (``code.zipFile`` of a zip holding the
  handler's module, or ``customContainerConfig.image``); a name that is not 1-64 letters, digits, ``_`` and ``-``
  starting with a letter or ``_``; a runtime FC does not have; ``memorySize`` outside 128-32768 MiB or not a multiple
  of 64; ``timeout`` outside 1-86400 s; a ``role`` that is not ``acs:ram::<uid>:role/<name>`` or that the account
  does not have (``roles``); a layer that does not exist; an existing function (409 ``FunctionAlreadyExists``);
- an invocation payload over 128 KiB (asynchronous) or 32 MiB (synchronous): 413 ``PayloadTooLarge``;
- more than ``instance_limit`` instances at once in the region (300 in FC): asynchronous events wait in the queue,
  synchronous invocations get 429 ``ResourceThrottled``;
- an async task id (``x-fc-async-task-id``) that is malformed, already used, or sent to a function whose async
  invoke config does not enable ``asyncTask``. Tasks go ``Enqueued``, ``Running``, then ``Succeeded`` or ``Failed``
  (with the error), or ``Stopped`` by StopAsyncTask (a running one's instance is killed); ListAsyncTasks lists them.

A new function is ``Pending`` for ``pending_seconds`` and then ``Active`` (``Failed`` when its image is not one of
``images``, as an image FC cannot pull). Each instance is a local process serving FC's event requests
(``POST /invoke`` with the ``x-fc-*`` headers and the event as body), one request at a time
(``instanceConcurrency`` 1): a ``custom-container`` function runs its image's command, whose ``python3`` is the
interpreter ``images`` gives for that image (this one by default), with this environment's packages on its path (the
image is taken to hold them); a ``python3.x`` function runs :mod:`lithops_aliyun.testing.fc_python_runtime` with a
Python ``3.x`` found on this machine (:func:`find_python`; the instance fails to start without one), which calls
``handler(event, context)`` from the function's unzipped code and layers with FC's context shape. An instance whose
request outlives the function's timeout is killed, as FC does; when the processes of an instance use more memory
(PSS) than ``memorySize``, the largest is killed, as the out-of-memory killer does. The role's credentials reach
instances as FC injects them (``ALIBABA_CLOUD_*``).
"""

from __future__ import annotations

import base64
import functools
import glob
import hashlib
import hmac
import http.client
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, FakeService
from lithops.testing.processes import free_port, kill_group, kill_if_over

_FN = r"/2023-03-30/functions/(?P<name>[^/]+)"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_ROLE_RE = re.compile(r"acs:ram::\d+:role/[A-Za-z0-9._@-]{1,64}", re.IGNORECASE)
_AUTH_RE = re.compile(r"ACS3-HMAC-SHA256 Credential=(?P<key>[^,]+),SignedHeaders=(?P<signed>[^,]+),"
                      r"Signature=(?P<sig>[0-9a-f]{64})")
#: FC 3.0 runtimes the fake knows.
RUNTIMES = ("python3.9", "python3.10", "python3.12", "custom-container", "custom.debian10", "custom.debian11",
            "custom.debian12", "nodejs18", "nodejs20", "java11", "go1")
MAX_ASYNC_BYTES, MAX_SYNC_BYTES = 128 * 1024, 32 * 1024 * 1024
RUNTIME_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fc_python_runtime.py")


@functools.cache
def find_python(version: str) -> str | None:
    """A working interpreter of Python ``version`` (``3.10``) on this machine: this one, ``python3.10`` on the PATH,
    or one of pyenv's; None when there is none.
    """
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return sys.executable
    candidates = [shutil.which(f"python{version}"),
                  *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))]
    for path in filter(None, candidates):
        try:
            if subprocess.run([path, "-c", "pass"], capture_output=True, timeout=30).returncode == 0:
                return path
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def _python_of(runtime: str) -> str:
    """The interpreter of a managed ``python3.x`` runtime (a name that fails to start when there is none)."""
    version = runtime[len("python"):]
    return find_python(version) or f"python{version}-is-not-installed"


class _Instance:
    """One instance of a function: a local process serving ``POST /invoke`` on a port."""

    def __init__(self, server: LocalFCServer, function: dict[str, Any]) -> None:
        self.function = function
        self.port = free_port()
        self.id = f"c-{uuid.uuid4().hex[:16]}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": server.workdir,
            "TMPDIR": server.workdir, "FC_SERVER_PORT": str(self.port), "FC_FUNCTION_NAME": function["functionName"],
            "FC_FUNCTION_MEMORY_SIZE": str(function["memorySize"]), "FC_FUNCTION_HANDLER": function["handler"],
            "FC_REGION": server.region, "FC_ACCOUNT_ID": server.account_id, "FC_INSTANCE_ID": self.id,
            "FC_RUNTIME": function["runtime"],
            "ALIBABA_CLOUD_ACCESS_KEY_ID": server.role_keys[0], "ALIBABA_CLOUD_ACCESS_KEY_SECRET": server.role_keys[1],
            "ALIBABA_CLOUD_SECURITY_TOKEN": server.role_keys[2],
            # this environment's packages, not this interpreter's standard library (an image may have another)
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and not p.startswith(sys.base_prefix)),
            **(function.get("environmentVariables") or {}),
        }
        if function["runtime"] == "custom-container":
            python = server.images.get(function["customContainerConfig"]["image"]) or sys.executable
            command = [python if c in ("python3", "python") else c
                       for c in function["customContainerConfig"].get("command") or []]
            cwd = server.workdir
        else:
            code = server.code_dirs[function["functionName"]]
            layers = [server.layer_dirs[arn] for arn in (layer["arn"] for layer in function.get("layers") or [])]
            command = [_python_of(function["runtime"]), RUNTIME_SCRIPT, function["handler"], code, *layers]
            cwd = code
        self.log = open(os.path.join(server.workdir, f"{function['functionName']}.log"), "ab")
        self.proc = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, start_new_session=True)
        self.oom_killed = False

    def wait_ready(self, timeout: float) -> bool:
        """Whether the instance accepts connections within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def invoke(self, body: bytes, request_id: str, timeout: float) -> tuple[int, bytes, str | None]:
        """POST the event; ``(status, body, error type)``. A request that outlives ``timeout`` kills the instance."""
        fn = self.function
        headers = {"x-fc-request-id": request_id, "x-fc-function-name": fn["functionName"],
                   "x-fc-function-handler": fn["handler"], "x-fc-function-memory": str(fn["memorySize"]),
                   "x-fc-function-timeout": str(fn["timeout"]), "x-fc-region": fn["_region"],
                   "x-fc-account-id": fn["_account"], "Content-Type": "application/octet-stream"}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", "/invoke", body, headers)
            response = conn.getresponse()
            data = response.read()
            if response.status >= 300:
                return response.status, data, "UnhandledInvocationError"
            return 200, data, None
        except TimeoutError:
            self.kill()
            return 200, json.dumps({"errorMessage": f"Function timed out after {timeout:g} seconds"}).encode(), \
                "FunctionTimeout"
        except (OSError, http.client.HTTPException):
            self.proc.wait()
            kind = "OutOfMemory" if self.oom_killed else "InstanceExited"
            text = f"{kind}: the instance exited ({self.proc.returncode})"
            return 200, json.dumps({"errorMessage": text}).encode(), "UnhandledInvocationError"
        finally:
            conn.close()

    def watch_memory(self, stop: threading.Event) -> None:
        """Kill the largest process of the instance when their PSS passes the function's memory."""
        limit = int(self.function["memorySize"]) * 1024
        while not stop.wait(0.05):
            if kill_if_over(self.proc.pid, limit) is not None:
                self.oom_killed = True

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        kill_group(self.proc)
        self.log.close()


class LocalFCServer(FakeService):
    """The local FC 3.0 API.

    Args:
        credentials: access key id -> secret the API accepts.
        account_id: the account (its roles' ARNs use it).
        region: region of the service.
        roles: role names of the account that FC may assume.
        images: container images FC can pull, each with the Python interpreter its ``python3`` is here (None: this
            one), e.g. another version's to play an image built from another Python.
        instance_limit: instances that may run at once (300 in FC).
        pending_seconds: how long a new or updated function stays Pending.
    """

    def __init__(self, credentials: dict[str, str], account_id: str, region: str = "cn-hangzhou",
                 roles: tuple[str, ...] = ("lithops-fc-role", "aliyunfcdefaultrole"),
                 images: Mapping[str, str | None] | tuple[str, ...] = (),
                 instance_limit: int = 300, pending_seconds: float = 0.2) -> None:
        super().__init__()
        self.credentials = dict(credentials)
        self.account_id, self.region = account_id, region
        self.roles = {r.lower() for r in roles}
        self.images = dict(images) if isinstance(images, Mapping) else dict.fromkeys(images)
        self.instance_limit = instance_limit
        self.pending_seconds = pending_seconds
        key_id, secret = next(iter(self.credentials.items()))
        self.role_keys = (key_id, secret, "fake-sts-token")
        self.functions: dict[str, dict[str, Any]] = {}
        self.async_configs: dict[str, dict[str, Any]] = {}
        self.layers: dict[str, list[dict[str, Any]]] = {}
        self.layer_dirs: dict[str, str] = {}
        self.code_dirs: dict[str, str] = {}
        #: (function, request id, error type or None) of each finished asynchronous invocation
        self.async_results: list[tuple[str, str, str | None]] = []
        #: function -> async task id -> task (FC's AsyncTask shape)
        self.tasks: dict[str, dict[str, dict[str, Any]]] = {}
        self._task_instances: dict[str, _Instance] = {}
        self.workdir = tempfile.mkdtemp(prefix="local-fc-")
        self._idle: dict[str, list[_Instance]] = {}
        self._busy: set[_Instance] = set()
        #: free instances of the region (a test may acquire them to play a region whose instances are all busy)
        self.slots = threading.Semaphore(instance_limit)
        self.peak_instances = 0
        self.route("POST", r"/2023-03-30/functions", self.create_function)
        self.route("GET", r"/2023-03-30/functions", self.list_functions)
        self.route("GET", _FN, self.get_function)
        self.route("PUT", _FN, self.update_function)
        self.route("DELETE", _FN, self.delete_function)
        self.route("PUT", _FN + r"/async-invoke-config", self.put_async_config)
        self.route("POST", _FN + r"/invocations", self.invoke)
        self.route("GET", _FN + r"/async-tasks", self.list_async_tasks)
        self.route("PUT", _FN + r"/async-tasks/(?P<task>[^/]+)/stop", self.stop_async_task)
        self.route("POST", r"/2023-03-30/layers/(?P<layer>[^/]+)/versions", self.create_layer)
        self.route("GET", r"/2023-03-30/layers/(?P<layer>[^/]+)/versions", self.list_layer_versions)

    # -- FC's shapes -----------------------------------------------------------------------------------------
    def error_body(self, status: int, code: str, message: str) -> Any:
        """FC 3.0's error JSON."""
        return {"Code": code, "Message": message, "RequestId": uuid.uuid4().hex}

    def authorize(self, request: FakeRequest) -> None:
        """Refuse a request without a valid ACS3-HMAC-SHA256 signature of a known key."""
        for header in ("x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce"):
            if not request.header(header):
                raise ApiError(400, "MissingHeader", f"the {header} header is required")
        match = _AUTH_RE.fullmatch(request.header("authorization"))
        if match is None:
            raise ApiError(401, "InvalidSignature", "the Authorization header is missing or not ACS3-HMAC-SHA256")
        secret = self.credentials.get(match["key"])
        if secret is None:
            raise ApiError(403, "InvalidAccessKeyId.NotFound", f"Specified access key is not found: {match['key']}")
        payload_hash = hashlib.sha256(request.body).hexdigest()
        if request.header("x-acs-content-sha256") != payload_hash:
            raise ApiError(400, "ContentSHA256Mismatch", "x-acs-content-sha256 is not the SHA-256 of the body")
        signed = match["signed"].split(";")
        if "host" not in signed or any(h != h.lower() for h in signed):
            raise ApiError(403, "InvalidSignature", "SignedHeaders must be lower case and include host")
        query = "&".join(f"{k}={quote(v[-1], safe='~')}" for k, v in sorted(request.query.items()))
        canonical = "\n".join([request.method, request.path, query,
                               "".join(f"{h}:{request.header(h).strip()}\n" for h in signed), match["signed"],
                               payload_hash])
        to_sign = f"ACS3-HMAC-SHA256\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["sig"]):
            raise ApiError(403, "SignatureNotMatch", "The request signature does not conform to Aliyun standards.")

    def _function(self, name: str) -> dict[str, Any]:
        fn = self.functions.get(name)
        if fn is None:
            raise ApiError(404, "FunctionNotFound", f"function '{name}' does not exist")
        return fn

    def _view(self, fn: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in fn.items() if not k.startswith("_") and k != "code"}
        if fn["_pending_until"] > time.monotonic():
            view["state"], view["lastUpdateStatus"] = "Pending", "InProgress"
        elif fn.get("_failed"):
            view["state"], view["stateReason"] = "Failed", fn["_failed"]
            view["lastUpdateStatus"] = "Failed"
        else:
            view["state"], view["lastUpdateStatus"] = "Active", "Successful"
        return view

    # -- validation ------------------------------------------------------------------------------------------
    def _check_settings(self, body: dict[str, Any]) -> None:
        memory = body.get("memorySize")
        if memory is not None and (not isinstance(memory, int) or not 128 <= memory <= 32768 or memory % 64):
            raise ApiError(400, "InvalidArgument", f"memorySize {memory} is invalid: it must be a multiple of 64 "
                                                   f"between 128 and 32768 (MB)")
        timeout = body.get("timeout")
        if timeout is not None and (not isinstance(timeout, int) or not 1 <= timeout <= 86400):
            raise ApiError(400, "InvalidArgument", f"timeout {timeout} is invalid: it must be between 1 and 86400")
        role = body.get("role")
        if role is not None:
            if not _ROLE_RE.fullmatch(role):
                raise ApiError(400, "InvalidArgument", f"role '{role}' is not a valid RAM role ARN "
                                                       f"(acs:ram::<uid>:role/<name>)")
            uid, name = role.split("::", 1)[1].split(":role/")
            if uid != self.account_id or name.lower() not in self.roles:
                raise ApiError(400, "InvalidArgument", f"failed to assume role '{role}': the role does not exist or "
                                                       f"its trust policy does not allow fc.aliyuncs.com")
        concurrency = body.get("instanceConcurrency")
        if concurrency is not None and not 1 <= int(concurrency) <= 200:
            raise ApiError(400, "InvalidArgument", "instanceConcurrency must be between 1 and 200")
        for arn in body.get("layers") or []:
            if arn not in self.layer_dirs:
                raise ApiError(400, "InvalidArgument", f"layer '{arn}' does not exist")
        for key, value in (body.get("environmentVariables") or {}).items():
            if not isinstance(value, str):
                raise ApiError(400, "InvalidArgument", f"environment variable {key} must be a string")

    def _unpack_code(self, name: str, handler: str, code: dict[str, Any]) -> str:
        try:
            data = base64.b64decode(code["zipFile"], validate=True)
            zf = zipfile.ZipFile(io.BytesIO(data))
        except Exception:
            raise ApiError(400, "InvalidArgument", "code.zipFile is not a base64-encoded zip file") from None
        module = handler.rpartition(".")[0].replace(".", "/")
        if not {f"{module}.py", f"{module}/__init__.py"} & set(zf.namelist()):
            raise ApiError(400, "InvalidArgument", f"handler '{handler}': module {module}.py is not in the code")
        folder = tempfile.mkdtemp(prefix=f"code-{name}-", dir=self.workdir)
        zf.extractall(folder)
        return folder

    # -- routes ----------------------------------------------------------------------------------------------
    def create_function(self, request: FakeRequest) -> FakeResponse:
        """CreateFunction (POST /functions)."""
        body = request.json() or {}
        for key in ("functionName", "runtime", "handler"):
            if not body.get(key):
                raise ApiError(400, "InvalidArgument", f"{key} is required")
        name = body["functionName"]
        if not _NAME_RE.fullmatch(name):
            raise ApiError(400, "InvalidArgument", f"functionName '{name}' is invalid: 1-64 letters, digits, _ and "
                                                   f"-, starting with a letter or _")
        if body["runtime"] not in RUNTIMES:
            raise ApiError(400, "InvalidArgument", f"runtime '{body['runtime']}' is not supported")
        body.setdefault("memorySize", 512)
        body.setdefault("timeout", 3)
        self._check_settings(body)
        with self.lock:
            if name in self.functions:
                raise ApiError(409, "FunctionAlreadyExists", f"function '{name}' already exists")
            failed = None
            if body["runtime"] == "custom-container":
                image = (body.get("customContainerConfig") or {}).get("image")
                if not image:
                    raise ApiError(400, "InvalidArgument", "customContainerConfig.image is required by runtime "
                                                           "custom-container")
                if image not in self.images:
                    failed = f"pull image {image} failed: the image does not exist or access is denied"
            else:
                if not (body.get("code") or {}).get("zipFile"):
                    raise ApiError(400, "InvalidArgument", "code is required")
                self.code_dirs[name] = self._unpack_code(name, body["handler"], body["code"])
            fn = {**body, "functionArn": f"acs:fc:{self.region}:{self.account_id}:functions/{name}",
                  "functionId": uuid.uuid4().hex, "createdTime": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "layers": [{"arn": arn} for arn in body.get("layers") or []],
                  "_pending_until": time.monotonic() + self.pending_seconds, "_failed": failed,
                  "_region": self.region, "_account": self.account_id}
            self.functions[name] = fn
            return 200, self._view(fn)

    def get_function(self, request: FakeRequest) -> FakeResponse:
        """GetFunction."""
        with self.lock:
            return 200, self._view(self._function(request.params["name"]))

    def update_function(self, request: FakeRequest) -> FakeResponse:
        """UpdateFunction; refused while the function is still updating (412)."""
        body = request.json() or {}
        self._check_settings(body)
        name = request.params["name"]
        with self.lock:
            fn = self._function(name)
            if fn["_pending_until"] > time.monotonic():
                raise ApiError(412, "ConcurrentUpdateError", f"function '{name}' is being updated; try again later")
            if "code" in body:
                self.code_dirs[name] = self._unpack_code(name, body.get("handler") or fn["handler"], body.pop("code"))
            if "layers" in body:
                body["layers"] = [{"arn": arn} for arn in body["layers"]]
            fn.update(body)
            fn["_pending_until"] = time.monotonic() + self.pending_seconds
            idle = self._idle.pop(name, [])
        for instance in idle:  # new settings: new instances
            instance.kill()
        return 200, self._view(fn)

    def delete_function(self, request: FakeRequest) -> FakeResponse:
        """DeleteFunction; its idle instances are stopped."""
        name = request.params["name"]
        with self.lock:
            self._function(name)
            del self.functions[name]
            idle = self._idle.pop(name, [])
        for instance in idle:
            instance.kill()
        return 204, b""

    def list_functions(self, request: FakeRequest) -> FakeResponse:
        """ListFunctions with prefix, limit and nextToken."""
        prefix = (request.query.get("prefix") or [""])[-1]
        limit = int((request.query.get("limit") or ["20"])[-1])
        after = (request.query.get("nextToken") or [""])[-1]
        if not 1 <= limit <= 100:
            raise ApiError(400, "InvalidArgument", "limit must be between 1 and 100")
        with self.lock:
            names = sorted(n for n in self.functions if n.startswith(prefix) and n > after)
            page = [self._view(self.functions[n]) for n in names[:limit]]
        token = names[limit - 1] if len(names) > limit else None
        return 200, {"functions": page, **({"nextToken": token} if token else {})}

    def put_async_config(self, request: FakeRequest) -> FakeResponse:
        """PutAsyncInvokeConfig."""
        body = request.json() or {}
        retries = body.get("maxAsyncRetryAttempts")
        if retries is not None and not 0 <= int(retries) <= 8:
            raise ApiError(400, "InvalidArgument", "maxAsyncRetryAttempts must be between 0 and 8")
        with self.lock:
            self._function(request.params["name"])
            self.async_configs[request.params["name"]] = body
        return 200, body

    def create_layer(self, request: FakeRequest) -> FakeResponse:
        """CreateLayerVersion: a new version, unpacked for the instances that use it."""
        body = request.json() or {}
        layer = request.params["layer"]
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", layer):
            raise ApiError(400, "InvalidArgument", f"layer name '{layer}' is invalid")
        if not (body.get("code") or {}).get("zipFile"):
            raise ApiError(400, "InvalidArgument", "code is required")
        try:
            zf = zipfile.ZipFile(io.BytesIO(base64.b64decode(body["code"]["zipFile"], validate=True)))
        except Exception:
            raise ApiError(400, "InvalidArgument", "code.zipFile is not a base64-encoded zip file") from None
        with self.lock:
            versions = self.layers.setdefault(layer, [])
            version = len(versions) + 1
            arn = f"acs:fc:{self.region}:{self.account_id}:layers/{layer}/versions/{version}"
            folder = tempfile.mkdtemp(prefix=f"layer-{layer}-", dir=self.workdir)
            zf.extractall(folder)
            self.layer_dirs[arn] = folder
            entry = {"layerName": layer, "version": version, "layerVersionArn": arn,
                     "compatibleRuntime": body.get("compatibleRuntime") or [], "description": body.get("description"),
                     "codeSize": sum(i.file_size for i in zf.infolist())}
            versions.append(entry)
        return 200, entry

    def list_layer_versions(self, request: FakeRequest) -> FakeResponse:
        """ListLayerVersions."""
        with self.lock:
            versions = self.layers.get(request.params["layer"])
            if versions is None:
                raise ApiError(404, "LayerNotFound", f"layer '{request.params['layer']}' does not exist")
            return 200, {"layers": list(versions)}

    # -- invocations -----------------------------------------------------------------------------------------
    def invoke(self, request: FakeRequest) -> FakeResponse:
        """InvokeFunction, Sync (the handler's answer) or Async (202, queued for a free instance)."""
        name = request.params["name"]
        kind = request.header("x-fc-invocation-type", "Sync")
        if kind not in ("Sync", "Async"):
            raise ApiError(400, "InvalidArgument", f"x-fc-invocation-type '{kind}' must be Sync or Async")
        limit = MAX_ASYNC_BYTES if kind == "Async" else MAX_SYNC_BYTES
        if len(request.body) > limit:
            raise ApiError(413, "PayloadTooLarge", f"the {kind} invocation payload is {len(request.body)} bytes, "
                                                   f"more than {limit}")
        with self.lock:
            fn = self._view(self._function(name))
        if fn["state"] != "Active":
            raise ApiError(412, "FunctionNotActive", f"function '{name}' is {fn['state']}: "
                                                     f"{fn.get('stateReason') or 'wait until it is Active'}")
        request_id = uuid.uuid4().hex
        if kind == "Async":
            task_id = request.header("x-fc-async-task-id") or None
            if task_id is not None:
                self._new_task(name, task_id, fn["functionArn"])
            threading.Thread(target=self._run_async, args=(name, request.body, request_id, task_id),
                             daemon=True).start()
            return 202, b"", {"x-fc-request-id": request_id}
        if not self.slots.acquire(blocking=False):
            raise ApiError(429, "ResourceThrottled", f"Reserve resource exceeded limit: {self.instance_limit} "
                                                     f"instances are running in region {self.region}")
        try:
            status, data, error = self._run(name, request.body, request_id)
        finally:
            self.slots.release()
        headers = {"x-fc-request-id": request_id, "Content-Type": "application/octet-stream"}
        if error:
            headers["x-fc-error-type"] = error
        return status, data, headers

    def _new_task(self, name: str, task_id: str, arn: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", task_id):
            raise ApiError(400, "InvalidArgument", f"x-fc-async-task-id '{task_id}' is invalid: 1-128 letters, "
                                                   f"digits, _ and -")
        with self.lock:
            if not (self.async_configs.get(name) or {}).get("asyncTask"):
                raise ApiError(400, "InvalidArgument", f"function '{name}' does not have async tasks enabled "
                                                       f"(asyncTask of its async invoke config)")
            tasks = self.tasks.setdefault(name, {})
            if task_id in tasks:
                raise ApiError(409, "AsyncTaskAlreadyExists", f"async task '{task_id}' already exists")
            tasks[task_id] = {"taskId": task_id, "status": "Enqueued", "functionArn": arn,
                              "startedTime": int(time.time() * 1000)}

    def _run_async(self, name: str, body: bytes, request_id: str, task_id: str | None) -> None:
        with self.slots:  # events wait in FC's queue for a free instance
            with self.lock:
                task = self.tasks.get(name, {}).get(task_id or "")
                if task is not None:
                    if task["status"] != "Enqueued":  # stopped while it waited
                        return
                    task["status"] = "Running"
            _, data, error = self._run(name, body, request_id, task_id)
        with self.lock:
            self.async_results.append((name, request_id, error))
            if task is not None and task["status"] == "Running":
                task["status"] = "Failed" if error else "Succeeded"
                task["endTime"] = int(time.time() * 1000)
                if error:
                    task["taskErrorMessage"] = f"{error}: {data[:1000].decode(errors='replace')}"

    def list_async_tasks(self, request: FakeRequest) -> FakeResponse:
        """ListAsyncTasks with prefix, status, limit and nextToken."""
        prefix = (request.query.get("prefix") or [""])[-1]
        status = (request.query.get("status") or [""])[-1]
        limit = int((request.query.get("limit") or ["20"])[-1])
        after = (request.query.get("nextToken") or [""])[-1]
        if not 1 <= limit <= 100:
            raise ApiError(400, "InvalidArgument", "limit must be between 1 and 100")
        with self.lock:
            self._function(request.params["name"])
            tasks = self.tasks.get(request.params["name"], {})
            ids = sorted(t for t in tasks if t.startswith(prefix) and t > after
                         and (not status or tasks[t]["status"] == status))
            page = [dict(tasks[t]) for t in ids[:limit]]
        token = ids[limit - 1] if len(ids) > limit else None
        return 200, {"tasks": page, **({"nextToken": token} if token else {})}

    def stop_async_task(self, request: FakeRequest) -> FakeResponse:
        """StopAsyncTask: a queued task never runs; a running one's instance is stopped."""
        with self.lock:
            self._function(request.params["name"])
            task = self.tasks.get(request.params["name"], {}).get(request.params["task"])
            if task is None:
                raise ApiError(404, "AsyncTaskNotFound", f"async task '{request.params['task']}' does not exist")
            if task["status"] not in ("Enqueued", "Running"):
                raise ApiError(400, "InvalidArgument", f"async task '{task['taskId']}' has ended ({task['status']})")
            running = task["status"] == "Running"
            task["status"], task["endTime"] = "Stopped", int(time.time() * 1000)
            instance = self._task_instances.get(task["taskId"]) if running else None
        if instance is not None:
            instance.kill()
        return 200, b""

    def _run(self, name: str, body: bytes, request_id: str,
             task_id: str | None = None) -> tuple[int, bytes, str | None]:
        with self.lock:
            fn = self.functions.get(name)
            if fn is None:
                return 404, b'{"errorMessage": "function deleted"}', "FunctionNotFound"
            idle = self._idle.setdefault(name, [])
            instance = None
            while idle and instance is None:
                candidate = idle.pop()
                instance = candidate if candidate.alive() else None
        if instance is None:
            try:
                instance = _Instance(self, fn)
            except OSError as exc:
                return 200, json.dumps({"errorMessage": f"the instance could not start: {exc}"}).encode(), \
                    "InstanceStartFailed"
            if not instance.wait_ready(60):
                instance.kill()
                return 200, b'{"errorMessage": "the instance did not start listening"}', "InstanceStartFailed"
        with self.lock:
            self._busy.add(instance)
            self.peak_instances = max(self.peak_instances, len(self._busy))
            if task_id:
                self._task_instances[task_id] = instance
        stop = threading.Event()
        watcher = threading.Thread(target=instance.watch_memory, args=(stop,), daemon=True)
        watcher.start()
        try:
            result = instance.invoke(body, request_id, float(fn["timeout"]))
        finally:
            stop.set()
            watcher.join()
            with self.lock:
                self._busy.discard(instance)
                self._task_instances.pop(task_id or "", None)
                if instance.alive() and name in self.functions and self.functions[name] is fn:
                    self._idle.setdefault(name, []).append(instance)
                else:
                    instance.kill()
        return result

    def stop(self) -> None:
        """Stop serving and kill every instance."""
        super().stop()
        with self.lock:
            instances = [i for group in self._idle.values() for i in group] + list(self._busy)
            self._idle.clear()
        for instance in instances:
            instance.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
