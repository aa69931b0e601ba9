"""A local stand-in of the Azure Functions host and of the Functions platform, for tests.

The host (``python -m lithops_azure.testing.functions_host APP_DIR PORT KEY INSTANCES``, environment = the app's
settings) loads the deployed app's ``function_app.py`` (Python v2 programming model) and serves its functions as
the real host does: HTTP triggers on ``/api/<route>`` behind a function key (``x-functions-key`` header or
``code`` query), with ``azure.functions.HttpRequest``/``HttpResponse``; queue triggers taking messages from the
app's queue with an ``azure.functions`` ``QueueMessage`` (``dequeue_count`` included), deleting them on success,
making them visible again on failure and moving them to ``<queue>-poison`` after ``maxDequeueCount`` deliveries
(host.json).

:class:`LocalFunctions` serves the fake Resource Manager's One Deploy and host keys: it downloads the package from
its ``packageUri`` (Azurite), unpacks it and starts a host for the app on a local port, which becomes the app's
``defaultHostName``.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, QuietHandler
from lithops_azure.testing.arm_fake import FakeArm


def _settings(site: dict[str, Any]) -> dict[str, str]:
    props = site["properties"]
    return {s["name"]: s["value"] for s in (props.get("siteConfig") or {}).get("appSettings") or []}


class LocalFunctions:
    """The Functions platform of the fake Resource Manager: a host process per deployed app."""

    def __init__(self, arm: FakeArm, log_dir: str | None = None, instances: int = 3) -> None:
        self.arm, self.log_dir, self.instances = arm, log_dir, instances
        self.hosts: dict[str, tuple[subprocess.Popen[bytes], int, str]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        arm.extra["onedeploy"] = self.onedeploy
        arm.extra["listkeys"] = self.listkeys
        arm.on_delete.append(self._deleted)

    def onedeploy(self, method: str, site: dict[str, Any], request: FakeRequest) -> FakeResponse:
        """PUT: deploy the package at ``properties.packageUri``; GET: the last deployment's status."""
        name = str(site["name"])
        if method == "GET":
            if name not in self.deployments:
                raise ApiError(404, "NotFound", f"no deployment of {name}")
            return 200, self.deployments[name]
        props = (request.json() or {}).get("properties") or {}
        if not props.get("packageUri"):
            raise ApiError(400, "BadRequest", "properties.packageUri is required")
        with urllib.request.urlopen(props["packageUri"], timeout=30) as response:
            data = response.read()
        folder = tempfile.mkdtemp(prefix=f"functions-{name}-")
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(folder)
        self._start(site, folder)
        self.deployments[name] = {"properties": {"provisioningState": "Succeeded", "status": 4}}
        return 200, {"properties": {"provisioningState": "InProgress"}}

    def listkeys(self, method: str, site: dict[str, Any], request: FakeRequest) -> FakeResponse:
        """The host keys of an app (its host must have been deployed)."""
        host = self.hosts.get(str(site["name"]))
        if host is None:
            raise ApiError(400, "BadRequest", "the app has no running host: deploy its package first")
        return 200, {"masterKey": host[2] + "-master", "functionKeys": {"default": host[2]}}

    def _start(self, site: dict[str, Any], folder: str) -> None:
        name = str(site["name"])
        self._deleted("Microsoft.Web/sites", site)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        key = f"key-{name}"
        env = dict(os.environ, **_settings(site))
        log = (open(os.path.join(self.log_dir, f"{name}.log"), "ab") if self.log_dir
               else subprocess.DEVNULL)
        proc = subprocess.Popen([sys.executable, "-m", "lithops_azure.testing.functions_host", folder, str(port), key,
                                 str(self.instances)], env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ApiError(500, "DeploymentFailed", f"the host of {name} did not start") from None
                time.sleep(0.1)
        with self.lock:
            self.hosts[name] = (proc, port, key)
        site["properties"]["defaultHostName"] = f"127.0.0.1:{port}"

    def _deleted(self, kind: str, site: dict[str, Any]) -> None:
        if kind != "Microsoft.Web/sites":
            return
        with self.lock:
            host = self.hosts.pop(str(site["name"]), None)
        if host is not None and host[0].poll() is None:
            os.killpg(host[0].pid, signal.SIGKILL)
            host[0].wait()

    def stop(self) -> None:
        """Stop every host this platform started."""
        for name in list(self.hosts):
            self._deleted("Microsoft.Web/sites", {"name": name})


# -- the host process ----------------------------------------------------------------------------------------------
def _resolve(value: str) -> str:
    """A binding value with ``%SETTING%`` replaced by the app setting, as the host does."""
    return os.environ[value.strip("%")] if value.startswith("%") and value.endswith("%") else value


def serve_http(routes: dict[str, Any], port: int, key: str) -> ThreadingHTTPServer:
    """The host's HTTP front: ``/api/<route>`` for each HTTP-triggered function, behind the function key."""
    import azure.functions as func

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            fn = routes.get(parts.path.removeprefix("/api/"))
            if fn is None:
                self.send_whole(404, b"", {})
                return
            if self.headers.get("x-functions-key", params.get("code")) != key:
                self.send_whole(401, b"", {})
                return
            request = func.HttpRequest(self.command, f"http://127.0.0.1:{port}{self.path}",
                                       headers=dict(self.headers.items()), params=params, route_params={}, body=body)
            try:
                response = fn(request)
            except Exception as exc:  # the host answers 500 when a function raises
                self.send_whole(500, json.dumps({"error": repr(exc)}).encode(), {"Content-Type": "application/json"})
                return
            headers = dict(response.headers)
            headers.setdefault("Content-Type", response.mimetype or "text/plain")
            self.send_whole(response.status_code, response.get_body(), headers)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def poll_queue(fn: Any, queue_name: str, max_dequeue: int, visibility: int) -> None:
    """The host's queue listener: one message at a time, retried on failure, poison after ``max_dequeue``."""
    from azure.functions.queue import QueueMessage

    from lithops_azure.auth import queue_client, queue_service

    service = queue_service({"connection_string": os.environ["AzureWebJobsStorage"]})
    queue, poison = queue_client(service, queue_name), queue_client(service, f"{queue_name}-poison")
    while True:
        try:
            message = queue.receive_message(visibility_timeout=visibility)
        except Exception:
            message = None
        if message is None:
            time.sleep(0.5)
            continue
        try:
            fn(QueueMessage(id=message.id, body=bytes(message.content), dequeue_count=message.dequeue_count,
                            pop_receipt=message.pop_receipt))
        except Exception:
            if int(message.dequeue_count) >= max_dequeue:
                poison.send_message(bytes(message.content))
                queue.delete_message(message.id, message.pop_receipt)
            else:
                queue.update_message(message.id, message.pop_receipt, visibility_timeout=0)
            continue
        queue.delete_message(message.id, message.pop_receipt)


def main(folder: str, port: int, key: str, instances: int) -> None:
    """Load the app in ``folder`` and serve its functions until killed (``instances`` queue listeners)."""
    sys.path.insert(0, folder)
    app = importlib.import_module("function_app").app
    with open(os.path.join(folder, "host.json")) as f:
        host = json.load(f)
    queues = host.get("extensions", {}).get("queues", {})
    routes: dict[str, Any] = {}
    for function in app.get_functions():
        for binding in function.get_bindings():
            spec = binding.get_dict_repr()
            if spec["type"] == "httpTrigger":
                routes[spec.get("route") or function.get_function_name()] = function.get_user_function()
            elif spec["type"] == "queueTrigger":
                for _ in range(instances):  # as many instances of the app, each taking one message at a time
                    threading.Thread(target=poll_queue, daemon=True,
                                     args=(function.get_user_function(), _resolve(spec["queueName"]),
                                           int(queues.get("maxDequeueCount", 5)),
                                           int(os.environ.get("LITHOPS_RUNTIME_TIMEOUT") or 300) + 30)).start()
    serve_http(routes, port, key).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
