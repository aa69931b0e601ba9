"""The Cloud Run container's command: ``python -m lithops_gcp.gcp_cloudrun.entry_point``.

It serves :mod:`lithops.worker.http_service` on ``$PORT``: each POST runs one worker payload (every call gets a
status, also when the request's deadline or the container's memory stops it), ``{"lithops_action": "metadata"}``
answers the runtime's Python and Lithops versions, GET answers the readiness probe.
"""

from __future__ import annotations

import logging
import os

from lithops.worker.http_service import serve

#: What stops a Cloud Run call, and how to raise it.
CLOUDRUN_LIMIT = ("Cloud Run request", "Raise gcp_cloudrun.runtime_timeout (at most 3600 s)")


def missing_module_hint(runtime: str) -> str:
    """How to add a missing package to the Cloud Run runtime ``runtime``."""
    return (f"The container image of Cloud Run runtime '{runtime}' does not have it: add it to your Dockerfile and "
            f"run 'lithops runtime build -b gcp_cloudrun -f Dockerfile {runtime}', then "
            f"'lithops runtime deploy -b gcp_cloudrun {runtime}'.")


def main() -> None:
    """Serve Lithops worker payloads on ``$PORT`` until the container stops."""
    logging.basicConfig(level=os.environ.get("LITHOPS_LOG_LEVEL", "INFO"))
    runtime = os.environ.get("LITHOPS_RUNTIME")
    memory = os.environ.get("LITHOPS_RUNTIME_MEMORY") or "?"
    serve(limit=CLOUDRUN_LIMIT,
          killed_hint=f"most likely for running out of the container's {memory} MiB of memory: raise "
                      f"gcp_cloudrun.runtime_memory, or runtime_memory=...",
          missing_module_hint=missing_module_hint(runtime) if runtime else None,
          worker_id=f"cloudrun:{os.environ.get('K_REVISION', '?')}:{os.getpid()}")


if __name__ == "__main__":
    main()
