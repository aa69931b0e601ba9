"""What runs inside Function Compute.

- Zip functions on FC's managed Python runtime: ``handler(event, context)`` (:data:`~.package.HANDLER`). The event
  is the bytes FC received: a worker payload as JSON, or a reference to one kept in storage
  (:mod:`lithops.backends.payloads`); ``{"lithops_action": "metadata"}`` returns the runtime's versions instead.
- Custom-container functions: ``python3 -m lithops_aliyun.fc.entry_point`` serves FC's event requests
  (``POST /invoke`` with the event as body) on ``FC_SERVER_PORT`` (default 9000) with the same answers.

Either way :func:`lithops.worker.invocation.run_invocation` runs the calls in a child process, so every call gets a
status, also when the instance runs out of memory or the function reaches its timeout.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from lithops.backends.payloads import get_payload
from lithops.worker.invocation import Deadline, run_invocation, runtime_metadata

#: What stops an FC call, and how to raise it.
FC_LIMIT = ("Function Compute function", "Raise aliyun_fc.runtime_timeout (at most 86400 s)")


def _hints(memory: str) -> dict[str, str | None]:
    runtime = os.environ.get("LITHOPS_RUNTIME") or "?"
    return {
        "killed_hint": f"most likely for running out of the function's {memory} MiB of memory: raise "
                       f"aliyun_fc.runtime_memory, or runtime_memory=...",
        "missing_module_hint": f"The Function Compute runtime '{runtime}' does not have it: add it to a requirements "
                               f"file and run 'lithops runtime build -b aliyun_fc -f requirements.txt {runtime}' "
                               f"(a Dockerfile in custom-container mode), then run again.",
    }


def _worker_id(context: Any) -> str:
    instance = os.environ.get("FC_INSTANCE_ID") or f"pid{os.getpid()}"
    request = getattr(context, "request_id", None) or ""
    return f"fc:{instance}:{request}" if request else f"fc:{instance}"


def handler(event: bytes | str | dict[str, Any], context: Any) -> Any:
    """The Function Compute handler of Lithops functions (event functions, managed Python runtime)."""
    start = time.time()
    payload = json.loads(event) if isinstance(event, (bytes, str)) else dict(event)
    if payload.get("lithops_action") == "metadata":
        return json.dumps(runtime_metadata())
    if "lithops_payload" in payload:  # over FC's limit of asynchronous events, kept in storage
        payload = get_payload(payload["lithops_payload"])
    function = getattr(context, "function", None)
    timeout = float(getattr(function, "timeout", 0) or os.environ.get("LITHOPS_RUNTIME_TIMEOUT") or 0)
    memory = str(getattr(function, "memory", "") or os.environ.get("FC_FUNCTION_MEMORY_SIZE") or "?")
    deadline = Deadline(timeout - (time.time() - start)) if timeout else None
    summary = run_invocation(payload, deadline, limit=FC_LIMIT, worker_id=_worker_id(context), **_hints(memory))
    return json.dumps(summary)


class _Function:
    def __init__(self, headers: Any) -> None:
        self.name = headers.get("x-fc-function-name", "")
        self.handler = headers.get("x-fc-function-handler", "")
        self.memory = int(headers.get("x-fc-function-memory") or 0)
        self.timeout = int(headers.get("x-fc-function-timeout") or 0)


class ContainerContext:
    """The context of a custom-container request, from FC's ``x-fc-*`` request headers."""

    def __init__(self, headers: Any) -> None:
        self.request_id = headers.get("x-fc-request-id", "")
        self.region = headers.get("x-fc-region", "")
        self.account_id = headers.get("x-fc-account-id", "")
        self.function = _Function(headers)


def main() -> None:
    """Serve FC's event requests of a custom-container function on ``FC_SERVER_PORT``."""
    from http.server import BaseHTTPRequestHandler

    from lithops.worker.http_service import BurstServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """No access log."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                status, answer = 200, handler(body, ContainerContext(self.headers)).encode()
            except Exception as exc:  # the payload itself is unusable: FC records the failed invocation
                status, answer = 500, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_GET(self) -> None:  # health checks
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = BurstServer(("0.0.0.0", int(os.environ.get("FC_SERVER_PORT") or 9000)), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
