"""The command of Lithops' k8s pods: ``python3 -m lithops_kubernetes.k8s.entry_point [metadata]``.

Reads the map's payload list from storage (``LITHOPS_K8S_PAYLOADS``, ``LITHOPS_K8S_STORAGE``) and runs the payload
of this pod's completion index (``JOB_COMPLETION_INDEX``, set by Kubernetes in indexed Jobs) with
:func:`lithops.worker.invocation.run_invocation`, so each call gets a status also when the pod runs out of memory
or time (``LITHOPS_RUNTIME_TIMEOUT``). With ``metadata``, prints the runtime's versions as one JSON line instead.
"""

from __future__ import annotations

import json
import os
import sys

from lithops.backends.payloads import get_payload
from lithops.worker.invocation import deadline_from_env, run_invocation, runtime_metadata


def main(argv: list[str]) -> int:
    """Run this pod's payload (or report the runtime's metadata); print a summary as one JSON line."""
    if argv[:1] == ["metadata"]:
        print(json.dumps(runtime_metadata()))
        return 0
    payloads = get_payload({"storage": json.loads(os.environ["LITHOPS_K8S_STORAGE"]),
                            "key": os.environ["LITHOPS_K8S_PAYLOADS"]})
    index = int(os.environ.get("JOB_COMPLETION_INDEX") or 0)
    summary = run_invocation(payloads[index], deadline_from_env(),
                             limit=("Kubernetes pod", "Raise k8s.runtime_timeout"),
                             killed_hint="most likely for running out of the pod's memory: raise k8s.runtime_memory",
                             worker_id=os.environ.get("LITHOPS_POD_NAME") or os.environ.get("HOSTNAME"))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
