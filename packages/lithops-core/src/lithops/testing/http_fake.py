"""A base for local fakes of cloud control planes at the HTTP level (no emulator exists for Cloud Run, Container
Apps, Code Engine or the Kubernetes API): routes, JSON answers in the cloud's error shape, a request log, loopback.

A plugin's test kit subclasses :class:`FakeService`, registers routes and makes every route refuse what the real
API refuses (missing fields, malformed names), so a wrong request fails the test instead of passing silently::

    class FakeRunApi(FakeService):
        def __init__(self):
            super().__init__()
            self.route("POST", r"/v2/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/services",
                       self.create_service)

        def create_service(self, request: FakeRequest) -> FakeResponse:
            body = request.json()
            if "template" not in body:
                raise ApiError(400, "INVALID_ARGUMENT", "template is required")
            ...
            return 200, {...}

    with FakeRunApi() as api:
        client = RunClient(client_options={"api_endpoint": api.url}, ...)

:class:`ApiError` answers with ``error_body(status, code, message)``, which a subclass overrides to match its
cloud's error JSON. ``requests`` logs (method, path) of every request, to count a backend's calls while it waits.

:class:`QuietHandler` is the request handler under it, also a base for hand-written local services and relays (an
HTTP layer in front of an emulator): HTTP/1.1, no access log, and ``send_whole`` for a complete answer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lithops.backends.helpers import request_body
from lithops.testing.local_server import LocalServer
from lithops.worker.http_service import BurstServer

#: What a route returns: a status and a JSON-able body, or a status, a body and extra headers.
FakeResponse = tuple[int, Any] | tuple[int, Any, dict[str, str]]


class ApiError(Exception):
    """Raised by a route to answer with an error in the fake cloud's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler for local test services: HTTP/1.1 keep-alive, no access log, whole answers."""

    protocol_version = "HTTP/1.1"
    # headers and body are two writes: without this the body waits for the client's delayed ACK (40 ms)
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""

    def send_whole(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        """Answer with `status`, `headers` and `body`. Content-Length is the body's unless `headers` has one: a
        relayed answer to a HEAD has no body and keeps the size the server behind gave.
        """
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class FakeRequest:
    """One request as a route sees it: method, path, path parameters, query, headers and raw body."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON is the 400 a real API gives."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise ApiError(400, "INVALID_ARGUMENT", f"request body is not JSON: {exc}") from None

    def header(self, name: str, default: str = "") -> str:
        """A request header, by case-insensitive name."""
        return self.headers.get(name.lower(), default)


class FakeService(LocalServer):
    """A threaded HTTP server on 127.0.0.1 that dispatches requests to routes (method, path regex).

    Set :attr:`host` to another address where clients outside this network namespace must reach it, e.g. the
    bridge address of namespace hosts playing a cloud's VMs.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Callable[[FakeRequest], FakeResponse]]] = []
        self.requests: list[tuple[str, str]] = []
        #: the errors answered, as ``"CODE: message"`` (for tests that check what the fake refused)
        self.refused: list[str] = []
        self.lock = threading.RLock()
        self._server: BurstServer | None = None

    def route(self, method: str, pattern: str, handler: Callable[[FakeRequest], FakeResponse]) -> None:
        """Answer ``method`` requests whose whole path matches ``pattern`` with ``handler``."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def error_body(self, status: int, code: str, message: str) -> Any:
        """The JSON body of an error answer (Google's shape by default; override for other clouds)."""
        return {"error": {"code": status, "status": code, "message": message}}

    def authorize(self, request: FakeRequest) -> None:
        """Refuse a request the real service would refuse for its credentials (default: accept everything)."""

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """The answer to ``request``: the first route matching its method and path, else a 404."""
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            self.authorize(request)
            return handler(request)
        if allowed:
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path}")
        raise ApiError(404, "NOT_FOUND", f"no such resource or method: {request.method} {request.path}")

    def start(self) -> FakeService:
        """Start serving on a free port of :attr:`host`, in a daemon thread."""
        service = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                body = request_body(self.headers, self.rfile)
                request = FakeRequest(self.command, parts.path, {}, parse_qs(parts.query),
                                      {k.lower(): v for k, v in self.headers.items()},
                                      body if isinstance(body, bytes) else body.read())
                with service.lock:
                    service.requests.append((request.method, request.path))
                headers: dict[str, str] = {}
                try:
                    answer = service.dispatch(request)
                    status, data = answer[0], answer[1]
                    if len(answer) == 3:
                        headers = answer[2]  # type: ignore[misc]
                except ApiError as exc:
                    service.refused.append(f"{exc.code}: {exc.message}")
                    status, data = exc.status, service.error_body(exc.status, exc.code, exc.message)
                raw = data if isinstance(data, bytes) else json.dumps(data).encode()
                self.send_whole(status, raw, {"Content-Type": "application/json", **headers})

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.serve(Handler)
        return self
