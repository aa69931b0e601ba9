"""A local AWS Lambda service for tests and benchmarks: the real Invoke HTTP API in front of moto's control plane.

``POST /2015-03-31/functions/{name}/invocations`` runs the function's real handler in warm sandbox processes
(:mod:`lithops_aws.testing.lambda_sandbox`), honouring ``X-Amz-Invocation-Type`` (``Event``: 202 at once and run
from a queue; ``RequestResponse``: 200 with the handler's result or ``X-Amz-Function-Error``; ``DryRun``: 204),
the function's timeout (the sandbox is killed, as Lambda does) and memory size (when the sandbox's processes use
more, the largest one is killed, as the kernel's out-of-memory killer does inside Lambda's cgroup). Every other
request (create, get, list and delete functions, layers, tags, ...) is forwarded to moto's server, whose state is
the truth; the server keeps a copy of the code zips and layers it sees, so a zip function runs from its own code
and layers on top of only the packages Lambda's Python runtime provides (boto3), isolated from this environment.
Image functions (which cannot be run here) run their handler with this process' own packages.

Throttling can be switched on to test clients: ``throttle_first`` answers the first N invocations with 429
TooManyRequestsException, ``rate_limit`` admits at most that many invocations per second.

It says no where Lambda does: payloads over 256 KiB (``Event``) or 6 MiB (``RequestResponse``) get 413
RequestTooLargeException; after a configuration or code update the function reports
``LastUpdateStatus: InProgress`` for ``update_seconds`` and refuses further updates meanwhile (409
ResourceConflictException); :meth:`LocalLambdaServer.deactivate` makes a function ``Inactive`` (as Lambda does after
weeks without use): its invocations fail with ResourceConflictException and it becomes ``Pending``, then
``Active`` after ``update_seconds``.
"""

from __future__ import annotations

import base64
import http.client
import importlib.util
import io
import itertools
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lithops.backends.helpers import request_body
from lithops.testing.processes import free_port, kill_group, kill_if_over
from lithops_aws.testing.moto_server import forward

_INVOKE_RE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_CODE_RE = re.compile(r"^/2015-03-31/functions/([^/]+)/code$")
_FUNCTION_RE = re.compile(r"^/2015-03-31/functions/([^/]+)$")
_LAYER_RE = re.compile(r"^/2018-10-31/layers/([^/]+)/versions$")
#: Packages Lambda's Python runtime provides to every function.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
#: Largest request bodies Lambda's Invoke accepts, by invocation type.
MAX_EVENT_BYTES, MAX_SYNC_BYTES = 256 * 1024, 6 * 1024 * 1024
SANDBOX_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_sandbox.py")


def _function_name(ref: str) -> str:
    ref = urllib.parse.unquote(ref)
    if ref.startswith("arn:"):
        return ref.split(":")[6]
    return ref.split(":")[0]


class _Sandbox:
    """One warm execution environment (a sandbox process) of one function."""

    def __init__(self, server: LocalLambdaServer, function: dict[str, Any]) -> None:
        self.function = function
        self.name = function["FunctionName"]
        self.memory = int(function.get("MemorySize") or 128)
        paths, isolated = server._paths_of(function)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex[:12]}",
            "AWS_REGION": server.region,
            "AWS_DEFAULT_REGION": server.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.get('Runtime') or 'image'}",
            "LITHOPS_TEST_FUNCTION_ARN": function.get("FunctionArn", ""),
            "TMPDIR": server.workdir,
            **server.credentials,
            **{k: v for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")},
            **((function.get("Environment") or {}).get("Variables") or {}),
        }
        if not isolated:
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        args = [sys.executable, "-I", "-S"] if isolated else [sys.executable]
        handler = function.get("Handler") or server.image_handler
        self.log = open(os.path.join(server.workdir, f"{self.name}.log"), "ab")
        self.proc = subprocess.Popen(
            [*args, SANDBOX_SCRIPT, handler, *paths], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, env=env, cwd=paths[0] if isolated else None, start_new_session=True,
        )
        self.oom_killed = False

    def run(self, event: Any, timeout: float) -> tuple[str, Any]:
        """Run one invocation: ``("result", value)``, ``("error", {...})``, or ``("dead", reason)``."""
        deadline = time.time() + timeout
        request = {"event": event, "deadline_ms": deadline * 1000, "request_id": str(uuid.uuid4())}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return "dead", "Runtime exited before the invocation"
        answer: list[bytes] = []
        reader = threading.Thread(target=lambda: answer.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(max(0.0, deadline - time.time()))
        if reader.is_alive():
            self.kill()
            return "dead", f"Task timed out after {timeout:.2f} seconds"
        if not answer or not answer[0]:
            self.proc.wait()
            reason = "signal: killed" if self.proc.returncode == -signal.SIGKILL else f"exit {self.proc.returncode}"
            kind = "Runtime.OutOfMemory" if self.oom_killed else "Runtime.ExitError"
            return "dead", f"{kind}: Runtime exited with error: {reason}"
        reply = json.loads(answer[0])
        if "error" in reply:
            return "error", reply["error"]
        return "result", reply.get("result")

    def alive(self) -> bool:
        """Whether the sandbox process still runs."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """Stop the sandbox and everything it started."""
        kill_group(self.proc)
        self.log.close()


class LocalLambdaServer:
    """The local Lambda service.

    Args:
        moto_url: moto server that holds the control-plane state.
        concurrency: sandboxes that may run at once (the account's concurrency limit).
        region: region reported to functions.
        throttle_first: answer this many first invocations with 429.
        rate_limit: invocations admitted per second (None: no limit).
    """

    image_handler = "lithops_aws.aws_lambda.entry_point.lambda_handler"

    def __init__(self, moto_url: str, concurrency: int = 4, region: str = "us-east-1", throttle_first: int = 0,
                 rate_limit: float | None = None, update_seconds: float = 0.5) -> None:
        self.moto = urllib.parse.urlsplit(moto_url)
        self.concurrency = concurrency
        self.region = region
        self.throttle_first = throttle_first
        self.rate_limit = rate_limit
        self.update_seconds = update_seconds
        self._busy_until: dict[str, float] = {}
        #: ``(function, request)`` of each UpdateFunctionConfiguration that succeeded
        self.configuration_updates: list[tuple[str, dict[str, Any]]] = []
        self._inactive: set[str] = set()
        self._waking: set[str] = set()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = tempfile.mkdtemp(prefix="lithops-local-lambda-")
        self.credentials = {"AWS_ACCESS_KEY_ID": "lambda-role", "AWS_SECRET_ACCESS_KEY": "lambda-role"}
        self.stats = {"invocations": 0, "throttled": 0, "events": 0, "sync": 0, "timeouts": 0, "oom_kills": 0,
                      "max_running": 0, "too_large": 0, "conflicts": 0}
        self._codes: dict[str, bytes] = {}
        self._layers: dict[str, bytes] = {}
        self._functions: dict[str, dict[str, Any]] = {}
        self._idle: dict[str, list[_Sandbox]] = {}
        self._busy: set[_Sandbox] = set()
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(concurrency)
        self._events: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._tokens = float(rate_limit or 0)
        self._last_refill = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._runtime_dir: str | None = None
        self._runtime_lock = threading.Lock()
        self._counter = itertools.count()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> LocalLambdaServer:
        """Start serving on 127.0.0.1."""
        server = self

        class Handler(_RequestHandler):
            lambda_server = server

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # many client threads connect at once

        self._httpd = Server(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        threads = [threading.Thread(target=self._httpd.serve_forever, name="local-lambda-http", daemon=True),
                   threading.Thread(target=self._watch_memory, name="local-lambda-oom", daemon=True)]
        threads += [threading.Thread(target=self._run_events, name=f"local-lambda-event-{i}", daemon=True)
                    for i in range(self.concurrency)]
        for t in threads:
            t.start()
        self._threads = threads
        return self

    def stop(self) -> None:
        """Stop serving and kill every sandbox."""
        self._stop.set()
        for _ in range(self.concurrency):
            self._events.put(None)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            sandboxes = [s for idle in self._idle.values() for s in idle] + list(self._busy)
            self._idle.clear()
        for s in sandboxes:
            s.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalLambdaServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 60) -> bool:
        """Wait until no event is queued or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = len(self._busy)
            if busy == 0 and self._events.empty():
                return True
            time.sleep(0.05)
        return False

    # -- function states -------------------------------------------------------------------------------------
    def deactivate(self, name: str) -> None:
        """Make function ``name`` Inactive, as Lambda does with functions unused for weeks."""
        with self._lock:
            self._inactive.add(name)

    def _updating(self, name: str) -> bool:
        with self._lock:
            return time.monotonic() < self._busy_until.get(name, 0)

    def _state(self, name: str) -> tuple[str, str]:
        """``(State, LastUpdateStatus)`` of a function as Lambda would report it now."""
        with self._lock:
            if name in self._inactive:
                return "Inactive", "Successful"
            busy = time.monotonic() < self._busy_until.get(name, 0)
            if name in self._waking:
                if busy:
                    return "Pending", "Successful"
                self._waking.discard(name)
            return "Active", "InProgress" if busy else "Successful"

    def _wake(self, name: str) -> None:
        with self._lock:
            self._inactive.discard(name)
            self._waking.add(name)
            self._busy_until[name] = time.monotonic() + self.update_seconds

    def _updated(self, name: str) -> None:
        with self._lock:
            self._busy_until[name] = time.monotonic() + self.update_seconds

    # -- code ------------------------------------------------------------------------------------------------
    def _provided_runtime(self) -> str:
        """A folder with the packages Lambda's Python runtime provides (links into this environment)."""
        with self._runtime_lock:
            return self._make_provided_runtime()

    def _make_provided_runtime(self) -> str:
        if self._runtime_dir is None:
            folder = os.path.join(self.workdir, "runtime")
            os.makedirs(folder, exist_ok=True)
            for name in RUNTIME_PROVIDED:
                spec = importlib.util.find_spec(name)
                if spec is None:
                    continue
                locations = spec.submodule_search_locations
                src = next(iter(locations)) if locations else spec.origin
                assert src is not None
                os.symlink(src, os.path.join(folder, os.path.basename(src)))
            self._runtime_dir = folder
        return self._runtime_dir

    def _extract(self, data: bytes, folder: str) -> str:
        os.makedirs(folder, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(folder)
        return folder

    def _paths_of(self, function: dict[str, Any]) -> tuple[list[str], bool]:
        """``sys.path`` entries of a function's sandboxes, and whether they are isolated from this env."""
        name = function["FunctionName"]
        code = self._codes.get(name)
        if function.get("PackageType") == "Image" or code is None:
            return [os.getcwd()], False
        base = os.path.join(self.workdir, "functions", f"{name}-{next(self._counter)}")
        paths = [self._extract(code, os.path.join(base, "task"))]
        opt = os.path.join(base, "opt")
        for layer in function.get("Layers") or []:
            data = self._layers.get(layer["Arn"])
            if data is not None:
                self._extract(data, opt)
        paths += [os.path.join(opt, "python"), opt, self._provided_runtime()]
        return paths, True

    def _function(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            cached = self._functions.get(name)
        if cached is not None:
            return cached
        conn = http.client.HTTPConnection(self.moto.hostname or "127.0.0.1", self.moto.port, timeout=30)
        try:
            conn.request("GET", f"/2015-03-31/functions/{urllib.parse.quote(name)}",
                         headers={"Authorization": f"AWS4-HMAC-SHA256 Credential=lambda/20200101/{self.region}/lambda/"
                                                   f"aws4_request, SignedHeaders=host, Signature=0"})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            return None
        conf: dict[str, Any] = json.loads(body)["Configuration"]
        with self._lock:
            self._functions[name] = conf
        return conf

    def _forget(self, name: str) -> None:
        with self._lock:
            self._functions.pop(name, None)
            stale = self._idle.pop(name, [])
        for s in stale:
            s.kill()

    # -- running ---------------------------------------------------------------------------------------------
    def _admit(self) -> bool:
        with self._lock:
            self.stats["invocations"] += 1
            if self.throttle_first > 0:
                self.throttle_first -= 1
                self.stats["throttled"] += 1
                return False
            if self.rate_limit:
                now = time.monotonic()
                self._tokens = min(self.rate_limit, self._tokens + (now - self._last_refill) * self.rate_limit)
                self._last_refill = now
                if self._tokens < 1:
                    self.stats["throttled"] += 1
                    return False
                self._tokens -= 1
            return True

    def _take(self, function: dict[str, Any]) -> _Sandbox:
        name = function["FunctionName"]
        with self._lock:
            idle = self._idle.get(name) or []
            while idle:
                sandbox = idle.pop()
                if sandbox.alive():
                    self._busy.add(sandbox)
                    self.stats["max_running"] = max(self.stats["max_running"], len(self._busy))
                    return sandbox
        sandbox = _Sandbox(self, function)
        with self._lock:
            self._busy.add(sandbox)
            self.stats["max_running"] = max(self.stats["max_running"], len(self._busy))
        return sandbox

    def _release(self, sandbox: _Sandbox) -> None:
        with self._lock:
            self._busy.discard(sandbox)
            current = self._functions.get(sandbox.name)
            if sandbox.alive() and current is sandbox.function and not self._stop.is_set():
                self._idle.setdefault(sandbox.name, []).append(sandbox)
                return
        sandbox.kill()

    def invoke(self, function: dict[str, Any], event: Any) -> tuple[str, Any]:
        """Run one invocation in a sandbox (waiting for a free concurrency slot)."""
        with self._slots:
            sandbox = self._take(function)
            try:
                outcome = sandbox.run(event, float(function.get("Timeout") or 3))
            finally:
                self._release(sandbox)
        if outcome[0] == "dead" and "timed out" in str(outcome[1]):
            self.stats["timeouts"] += 1
        return outcome

    def _run_events(self) -> None:
        while not self._stop.is_set():
            item = self._events.get()
            if item is None:
                return
            name, event = item
            function = self._function(name)
            if function is not None:
                try:
                    self.invoke(function, event)
                except Exception as exc:  # keep serving; the sandbox log tells more
                    print(f"local lambda: event of {name} failed: {exc}", file=sys.stderr)
            self._events.task_done()

    def _watch_memory(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                busy = list(self._busy)
            for sandbox in busy:
                victim = kill_if_over(sandbox.proc.pid, sandbox.memory * 1024)
                if victim is not None:
                    sandbox.oom_killed = victim == sandbox.proc.pid
                    self.stats["oom_kills"] += 1


class _RequestHandler(BaseHTTPRequestHandler):
    lambda_server: LocalLambdaServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _body(self) -> bytes:
        body = request_body(self.headers, self.rfile)
        assert isinstance(body, bytes)
        return body

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        body = json.dumps({"Type": "User", "message": message, **(extra or {})}).encode()
        self._send(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": code})

    def _conflict(self, name: str, message: str) -> None:
        server = self.lambda_server
        server.stats["conflicts"] += 1
        arn = f"arn:aws:lambda:{server.region}:123456789012:function:{name}"
        self._error(409, "ResourceConflictException", message.format(arn=arn))

    def _handle(self) -> None:
        server = self.lambda_server
        path = urllib.parse.urlsplit(self.path).path
        body = self._body()
        match = _INVOKE_RE.match(path)
        if match and self.command == "POST":
            self._invoke(_function_name(match.group(1)), body)
            return
        update = self.command == "PUT" and (_CODE_RE.match(path) or path.endswith("/configuration"))
        name = _function_name(path.split("/")[3]) if path.startswith("/2015-03-31/functions/") else ""
        if update and server._updating(name):
            self._conflict(name, "The operation cannot be performed at this time. An update is in progress for "
                                 "resource: {arn}")
            return
        status, headers, answer = forward(self.lambda_server.moto, self.command, self.path, self.headers, body)
        if 200 <= status < 300:
            self._capture(path, body, answer)
            if update:
                server._updated(name)
                if path.endswith("/configuration"):
                    server.configuration_updates.append((name, json.loads(body or b"{}")))
            if self.command == "GET" and name and (_FUNCTION_RE.match(path) or path.endswith("/configuration")):
                answer = self._with_state(name, answer)
        self._send(status, answer, headers)

    def _with_state(self, name: str, answer: bytes) -> bytes:
        document = json.loads(answer)
        conf = document.get("Configuration", document)
        conf["State"], conf["LastUpdateStatus"] = self.lambda_server._state(name)
        return json.dumps(document).encode()

    def _capture(self, path: str, body: bytes, answer: bytes) -> None:
        server = self.lambda_server
        try:
            request = json.loads(body) if body else {}
            response = json.loads(answer) if answer else {}
        except ValueError:
            return
        if self.command == "POST" and path == "/2015-03-31/functions":
            zipped = (request.get("Code") or {}).get("ZipFile")
            if zipped:
                server._codes[request["FunctionName"]] = base64.b64decode(zipped)
            server._forget(request["FunctionName"])
        elif (m := _CODE_RE.match(path)) and self.command == "PUT":
            name = _function_name(m.group(1))
            if request.get("ZipFile"):
                server._codes[name] = base64.b64decode(request["ZipFile"])
            server._forget(name)
        elif (m := _LAYER_RE.match(path)) and self.command == "POST":
            zipped = (request.get("Content") or {}).get("ZipFile")
            if zipped and response.get("LayerVersionArn"):
                server._layers[response["LayerVersionArn"]] = base64.b64decode(zipped)
        elif (m := _FUNCTION_RE.match(path)) and self.command == "DELETE":
            server._forget(_function_name(m.group(1)))
        elif "/configuration" in path and self.command == "PUT":
            server._forget(_function_name(path.split("/")[3]))

    def _invoke(self, name: str, body: bytes) -> None:
        server = self.lambda_server
        function = server._function(name)
        if function is None:
            arn = f"arn:aws:lambda:{server.region}:123456789012:function:{name}"
            self._error(404, "ResourceNotFoundException", f"Function not found: {arn}")
            return
        kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        state, _ = server._state(name)
        if state != "Active":
            if state == "Inactive":
                server._wake(name)
            self._conflict(name, f"The operation cannot be performed at this time. The function is currently in "
                                 f"the following state: {state}")
            return
        limit = MAX_EVENT_BYTES if kind == "Event" else MAX_SYNC_BYTES
        if len(body) > limit:
            server.stats["too_large"] += 1
            operation = "InvokeAsync" if kind == "Event" else "Invoke"
            self._error(413, "RequestTooLargeException",
                        f"Request must be smaller than {limit} bytes for the {operation} operation")
            return
        if kind == "DryRun":
            self._send(204, b"")
            return
        if not server._admit():
            self._error(429, "TooManyRequestsException", "Rate Exceeded.", {"Reason": "CallerRateLimitExceeded"})
            return
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
            return
        if kind == "Event":
            server.stats["events"] += 1
            server._events.put((name, event))
            self._send(202, b"")
            return
        server.stats["sync"] += 1
        outcome, value = server.invoke(function, event)
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if outcome == "result":
            self._send(200, json.dumps(value).encode(), headers)
        elif outcome == "error":
            self._send(200, json.dumps(value).encode(), {**headers, "X-Amz-Function-Error": "Unhandled"})
        else:
            error_type = "Sandbox.Timedout" if "timed out" in str(value) else str(value).split(":")[0]
            self._send(200, json.dumps({"errorType": error_type, "errorMessage": str(value)}).encode(),
                       {**headers, "X-Amz-Function-Error": "Unhandled"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle
