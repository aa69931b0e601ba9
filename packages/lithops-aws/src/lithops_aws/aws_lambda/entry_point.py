"""The Lambda function's handler: ``lithops_aws.aws_lambda.entry_point.lambda_handler``.

The event is a worker payload (docs/protocol.md, storage transport), or a reference to one kept in storage
(:mod:`lithops.backends.payloads`), run by :func:`lithops.worker.invocation.run_invocation` (every call gets a
status, also when it runs out of memory or time). The event ``{"lithops_action": "metadata"}``
returns the runtime's Python and Lithops versions instead.
"""

from __future__ import annotations

import os
from typing import Any

from lithops.backends.payloads import get_payload
from lithops.worker.invocation import run_invocation, runtime_metadata
from lithops_aws.aws_lambda.package import DEFAULT_LAYER_PACKAGES

#: What stops a Lambda call, and how to raise it.
LAMBDA_LIMIT = ("Lambda function", "Raise aws_lambda.runtime_timeout (at most 900 s)")


def missing_module_hint(runtime: str) -> str:
    """How to add a missing package to the Lambda runtime ``runtime``: one command."""
    if ":" in runtime or "/" in runtime:
        return (f"The container image of Lambda runtime '{runtime}' does not have it: install it in the image's "
                f"Dockerfile and rebuild with 'lithops runtime build -b aws_lambda -f Dockerfile {runtime}'.")
    if runtime.startswith("default-runtime-v"):
        return (f"The Lambda runtime '{runtime}' has Lithops and boto3 only. Add packages with one command: "
                f"'lithops runtime build -b aws_lambda -f requirements.txt my-runtime' (without -f it installs "
                f"{', '.join(DEFAULT_LAYER_PACKAGES)}, as Lithops 3.x's default runtime has), then set "
                f"aws_lambda.runtime: my-runtime.")
    return (f"The layer of Lambda runtime '{runtime}' does not have it: add it to the requirements file and run "
            f"'lithops runtime build -b aws_lambda -f requirements.txt {runtime}' again; the next job uses the "
            f"new layer.")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The AWS Lambda handler of Lithops functions."""
    if event.get("lithops_action") == "metadata":
        return runtime_metadata()
    if "lithops_payload" in event:  # a payload over the 256 KiB event limit, kept in storage
        event = get_payload(event["lithops_payload"])
    runtime = os.environ.get("LITHOPS_RUNTIME")
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "?"
    return run_invocation(
        event, context, limit=LAMBDA_LIMIT,
        killed_hint=f"most likely for running out of the function's {memory} MiB of memory: raise "
                    f"aws_lambda.runtime_memory, or runtime_memory=...",
        missing_module_hint=missing_module_hint(runtime) if runtime else None,
        worker_id=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME") or f"lambda:{os.getpid()}")
