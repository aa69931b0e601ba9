"""The command of Lithops' Code Engine jobs: ``python3 -m lithops_ibm.code_engine.entry_point``.

A job run's environment holds ``LITHOPS_CE_PAYLOADS`` (the key of the job's payload list in storage) and
``LITHOPS_CE_STORAGE`` (the storage to read it from); Code Engine gives each instance its array index in
``JOB_INDEX``. Instance ``i`` runs payload ``i`` with :func:`lithops.worker.invocation.run_invocation`, so each call
gets a status also when the instance runs out of memory or time (``LITHOPS_RUNTIME_TIMEOUT``).

With ``LITHOPS_CE_METADATA`` set instead, the instance writes the runtime's metadata (Python version, ...) to that
key of the storage, which is how the client learns the Python of an image before sending it work.
"""

from __future__ import annotations

import json
import os
import sys

from lithops.backends.payloads import get_payload
from lithops.plugins.specs import import_object
from lithops.worker.invocation import deadline_from_env, run_invocation, runtime_metadata


def main() -> int:
    """Run this instance's payload (or write the runtime metadata); print a summary as one JSON line."""
    storage = json.loads(os.environ["LITHOPS_CE_STORAGE"])
    metadata_key = os.environ.get("LITHOPS_CE_METADATA")
    if metadata_key:
        handler = import_object(storage["backend"])(storage["config"])
        handler.put_object(storage["bucket"], metadata_key, json.dumps(runtime_metadata()).encode())
        print(json.dumps({"metadata": metadata_key}))
        return 0
    payloads = get_payload({"storage": storage, "key": os.environ["LITHOPS_CE_PAYLOADS"]})
    index = int(os.environ.get("JOB_INDEX") or 0)
    summary = run_invocation(payloads[index], deadline_from_env(),
                             limit=("Code Engine job run", "Raise code_engine.runtime_timeout"),
                             killed_hint="most likely for running out of the instance's memory: raise "
                                         "code_engine.runtime_memory (with a runtime_cpu that allows it)",
                             worker_id=f"{os.environ.get('CE_JOBRUN', 'jobrun')}-{index}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
