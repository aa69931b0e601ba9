"""The command of Lithops' Batch containers: ``python3 -m lithops_aws.aws_batch.entry_point``.

Reads the job's payload list from storage (``LITHOPS_BATCH_PAYLOADS``, ``LITHOPS_BATCH_STORAGE``) and runs the payload
of this array child (``AWS_BATCH_JOB_ARRAY_INDEX``, 0 for a single job) with
:func:`lithops.worker.invocation.run_invocation`, so each call gets a status also when the container runs out of
memory or time (``LITHOPS_RUNTIME_TIMEOUT``).
"""

from __future__ import annotations

import json
import os
import sys

from lithops.backends.payloads import get_payload
from lithops.worker.invocation import deadline_from_env, run_invocation


def main() -> int:
    """Run this array child's payload; print its summary as one JSON line."""
    payloads = get_payload({"storage": json.loads(os.environ["LITHOPS_BATCH_STORAGE"]),
                            "key": os.environ["LITHOPS_BATCH_PAYLOADS"]})
    index = int(os.environ.get("AWS_BATCH_JOB_ARRAY_INDEX") or 0)
    summary = run_invocation(payloads[index], deadline_from_env(),
                             limit=("Batch job", "Raise aws_batch.runtime_timeout"),
                             killed_hint="most likely for running out of the job's memory: raise "
                                         "aws_batch.runtime_memory")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
