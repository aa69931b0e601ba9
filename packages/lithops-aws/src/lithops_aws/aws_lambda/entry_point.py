"""The Lambda function's handler: ``lithops_aws.aws_lambda.entry_point.lambda_handler``.

The event is a worker payload (docs/protocol.md, storage transport), run by :func:`lithops_aws.worker.run_invocation`
(every call gets a status, also when it runs out of memory or time). The event ``{"lithops_action": "metadata"}``
returns the runtime's Python and Lithops versions instead.
"""

from __future__ import annotations

from typing import Any

from lithops_aws.worker import run_invocation, runtime_metadata


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The AWS Lambda handler of Lithops functions."""
    if event.get("lithops_action") == "metadata":
        return runtime_metadata()
    return run_invocation(event, context)
