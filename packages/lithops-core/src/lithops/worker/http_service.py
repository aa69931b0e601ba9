"""The worker behind an HTTP endpoint, for platforms that deliver work as HTTP requests (Cloud Run, Knative, Code
Engine applications, Azure Container Apps and Functions' HTTP trigger).

One request runs one worker payload (docs/protocol.md) with :func:`lithops.worker.invocation.run_invocation`, so
each call gets a status whatever happens, and answers with its summary:

- ``POST`` a JSON worker payload, or ``{"lithops_payload": <reference>}`` to one kept in storage
  (:mod:`lithops.backends.payloads`): 200 and the summary as JSON.
- ``POST {"lithops_action": "metadata"}``: 200 and the runtime's Python, Lithops and protocol versions.
- ``GET``: 200 ``ok`` (readiness and liveness probes).
- A body that is not JSON: 400. When the service has a token, a request without it in ``X-Lithops-Token``: 401.

Backends whose platform hands over the request body themselves (functions-framework, the Azure Functions host) call
:func:`handle_body`; container images run :func:`serve`, which listens on ``$PORT`` as those platforms expect.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lithops.backends.payloads import get_payload
from lithops.worker.invocation import deadline_from_env, run_invocation, runtime_metadata

logger = logging.getLogger(__name__)

#: Request header carrying the service's token, when it has one (``LITHOPS_HTTP_TOKEN``).
TOKEN_HEADER = "X-Lithops-Token"


def handle_body(body: bytes, *, limit: tuple[str, str], killed_hint: str | None = None,
                missing_module_hint: str | None = None, worker_id: str | None = None) -> tuple[int, dict[str, Any]]:
    """Run what a request body asks for; return the HTTP status and the JSON answer.

    The keyword arguments are those of :func:`~lithops.worker.invocation.run_invocation`; the deadline is
    ``LITHOPS_RUNTIME_TIMEOUT`` seconds from now when that is set.
    """
    try:
        event = json.loads(body)
    except ValueError as exc:
        return 400, {"error": f"the request body is not JSON: {exc}"}
    if not isinstance(event, dict):
        return 400, {"error": "the request body must be a JSON object (a worker payload)"}
    if event.get("lithops_action") == "metadata":
        return 200, runtime_metadata()
    try:
        if "lithops_payload" in event:
            event = get_payload(event["lithops_payload"])
        summary = run_invocation(event, deadline_from_env(), limit=limit, killed_hint=killed_hint,
                                 missing_module_hint=missing_module_hint, worker_id=worker_id)
    except Exception as exc:  # the payload itself is unusable: tell the client, which fails its calls
        logger.exception("could not run the payload")
        return 500, {"error": f"{type(exc).__name__}: {exc}"}
    return 200, summary


def make_server(host: str, port: int, handle: Callable[[bytes], tuple[int, dict[str, Any]]],
                token: str | None = None) -> ThreadingHTTPServer:
    """An HTTP server (not started) answering each POST with ``handle(body)``; ``token`` required when given."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, b"ok", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if token is not None and not hmac.compare_digest(self.headers.get(TOKEN_HEADER, ""), token):
                self._send(401, b'{"error": "missing or wrong ' + TOKEN_HEADER.encode() + b'"}', "application/json")
                return
            status, answer = handle(body)
            self._send(status, json.dumps(answer).encode(), "application/json")

    return BurstServer((host, port), Handler)


class BurstServer(ThreadingHTTPServer):
    """A threaded server whose listen backlog takes a burst of invocations (the default of 5 makes the kernel drop
    connection attempts beyond it, which then wait for a retransmission).
    """

    daemon_threads = True
    request_queue_size = 128


def serve(*, limit: tuple[str, str], killed_hint: str | None = None, missing_module_hint: str | None = None,
          worker_id: str | None = None) -> None:
    """Serve forever on ``$PORT`` (default 8080) of ``$LITHOPS_HTTP_HOST`` (default all interfaces), requiring
    ``$LITHOPS_HTTP_TOKEN`` in :data:`TOKEN_HEADER` when that is set.
    """
    def handle(body: bytes) -> tuple[int, dict[str, Any]]:
        return handle_body(body, limit=limit, killed_hint=killed_hint, missing_module_hint=missing_module_hint,
                           worker_id=worker_id)

    server = make_server(os.environ.get("LITHOPS_HTTP_HOST", "0.0.0.0"), int(os.environ.get("PORT") or 8080),
                         handle, os.environ.get("LITHOPS_HTTP_TOKEN") or None)
    logger.info("Lithops worker listening on %s:%s", *server.server_address[:2])
    server.serve_forever()
