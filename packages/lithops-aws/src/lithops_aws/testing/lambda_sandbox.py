"""One Lambda execution environment of :mod:`lithops_aws.testing.lambda_server`, run as a script.

``python -I -S lambda_sandbox.py HANDLER PATH...``: the paths (the function's code, its layers, the packages
Lambda's Python runtime provides) become ``sys.path``, the handler is imported once (a cold start), then each line
read from stdin is one invocation ``{"event", "deadline_ms", "request_id"}`` answered by one line on the
original stdout ``{"result"}`` or ``{"error"}``. Whatever the handler prints goes to stderr, as in Lambda's logs.
Uses the standard library only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The ``context`` argument of a Lambda handler (the attributes Lithops and most code use)."""

    def __init__(self, request_id: str, deadline_ms: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("LITHOPS_TEST_FUNCTION_ARN", "")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout."""
        return max(0, int(self._deadline_ms - time.time() * 1000))


def main(argv: list[str]) -> int:
    """Run invocations read from stdin until it closes."""
    handler_name, paths = argv[1], argv[2:]
    sys.path[:0] = paths
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the handler's prints go to the log, not into the protocol
    module_name, _, func_name = handler_name.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name.replace("/", ".")), func_name)
    except Exception as exc:  # an init error is reported on every invocation, as Lambda does
        init_error = {"errorType": "Runtime.ImportModuleError", "errorMessage": f"Unable to import module "
                      f"'{module_name}': {type(exc).__name__}: {exc}"}
        traceback.print_exc()
        handler = None
    for line in sys.stdin:
        request = json.loads(line)
        if handler is None:
            out.write(json.dumps({"error": init_error}) + "\n")
            continue
        context = LambdaContext(request["request_id"], request["deadline_ms"])
        try:
            result: Any = handler(request["event"], context)
            reply = {"result": result}
        except Exception as exc:
            traceback.print_exc()
            reply = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc),
                               "stackTrace": traceback.format_tb(exc.__traceback__)}}
        sys.stderr.flush()
        out.write(json.dumps(reply, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
