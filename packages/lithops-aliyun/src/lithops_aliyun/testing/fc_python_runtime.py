"""One instance of FC's managed Python runtime, for :mod:`lithops_aliyun.testing.fc_server`, run as a script.

``python fc_python_runtime.py HANDLER CODE_DIR [LAYER_DIR...]``: the function's unzipped code, then each layer's
``python/`` folder (FC unpacks layers under ``/opt`` and puts ``/opt/python`` on the path) go first on
``sys.path``; the handler (``module.function``) is imported once (a cold start), then each ``POST /invoke`` on
``FC_SERVER_PORT`` is one event: ``handler(event, context)`` with the body as ``bytes`` and a context of FC's
shape (``request_id``, ``credentials``, ``function``, ``service``, ``region``, ``account_id``). The handler's
return value (bytes, str or JSON-able) is the answer; an exception is answered with FC's error JSON and
``x-fc-error-type``. Uses the standard library only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Credentials:
    """``context.credentials``: the role's temporary keys FC injects."""

    def __init__(self) -> None:
        self.access_key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
        self.access_key_secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
        self.security_token = os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN", "")


class FunctionMeta:
    """``context.function``."""

    def __init__(self, headers: Any) -> None:
        self.name = headers.get("x-fc-function-name", "")
        self.handler = headers.get("x-fc-function-handler", "")
        self.memory = int(headers.get("x-fc-function-memory") or 0)
        self.timeout = int(headers.get("x-fc-function-timeout") or 0)


class ServiceMeta:
    """``context.service`` (FC 3.0 has no services; kept empty for code written for FC 2.0)."""

    name = log_project = log_store = qualifier = version_id = ""


class FCContext:
    """The ``context`` argument of an FC Python handler."""

    def __init__(self, headers: Any) -> None:
        self.request_id = headers.get("x-fc-request-id", "")
        self.credentials = Credentials()
        self.function = FunctionMeta(headers)
        self.service = ServiceMeta()
        self.region = headers.get("x-fc-region", "")
        self.account_id = headers.get("x-fc-account-id", "")


def main(argv: list[str]) -> int:
    """Import the handler and serve events until killed."""
    handler_name, code, layers = argv[1], argv[2], argv[3:]
    sys.path[:0] = [code, *(os.path.join(layer, "python") for layer in layers)]
    module_name, _, func_name = handler_name.rpartition(".")
    handler = getattr(importlib.import_module(module_name), func_name)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """No access log."""

        def do_POST(self) -> None:
            event = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            error = None
            try:
                result = handler(event, FCContext(self.headers))
                if isinstance(result, str):
                    data = result.encode()
                elif isinstance(result, (bytes, bytearray)):
                    data = bytes(result)
                else:
                    data = json.dumps(result).encode()
            except Exception as exc:
                traceback.print_exc()
                error = "UnhandledInvocationError"
                data = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                                   "stackTrace": traceback.format_tb(exc.__traceback__)}).encode()
            self.send_response(500 if error else 200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    ThreadingHTTPServer(("127.0.0.1", int(os.environ["FC_SERVER_PORT"])), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
