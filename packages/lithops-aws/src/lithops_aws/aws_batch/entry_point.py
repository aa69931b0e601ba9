"""The command of Lithops' Batch containers: ``python3 -m lithops_aws.aws_batch.entry_point``.

Reads the job's payload list from storage (``LITHOPS_BATCH_PAYLOADS``, ``LITHOPS_BATCH_STORAGE``) and runs the payload
of this array child (``AWS_BATCH_JOB_ARRAY_INDEX``, 0 for a single job) with :func:`lithops_aws.worker.run_invocation`,
so each call gets a status also when the container runs out of memory or time (``LITHOPS_RUNTIME_TIMEOUT``).
"""

from __future__ import annotations

import json
import os
import sys
import time

from lithops_aws.payloads import get_payload
from lithops_aws.worker import run_invocation


class _Deadline:
    """A Lambda-like context: milliseconds left until the job's timeout."""

    def __init__(self, seconds: float) -> None:
        self.end = time.time() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.end - time.time()) * 1000))


def main() -> int:
    """Run this array child's payload; print its summary as one JSON line."""
    payloads = get_payload({"storage": json.loads(os.environ["LITHOPS_BATCH_STORAGE"]),
                            "key": os.environ["LITHOPS_BATCH_PAYLOADS"]})
    index = int(os.environ.get("AWS_BATCH_JOB_ARRAY_INDEX") or 0)
    timeout = os.environ.get("LITHOPS_RUNTIME_TIMEOUT")
    context = _Deadline(float(timeout)) if timeout else None
    summary = run_invocation(payloads[index], context,
                             limit=("Batch job", "Raise aws_batch.runtime_timeout"))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
