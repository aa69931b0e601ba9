"""The command of Lithops' Knative Services: ``python3 -m lithops_kubernetes.knative.entry_point``.

Serves the kernel's HTTP worker (:func:`lithops.worker.http_service.serve`) on ``$PORT``: one request runs one worker
payload, each call getting a status also when the instance runs out of memory or the request's time
(``LITHOPS_RUNTIME_TIMEOUT``).
"""

from __future__ import annotations

import os
import socket

from lithops.worker.http_service import serve


def main() -> None:
    """Serve worker payloads until the instance is stopped."""
    serve(limit=("Knative request", "Raise knative.runtime_timeout"),
          killed_hint="most likely for running out of the instance's memory: raise knative.runtime_memory",
          worker_id=f"{os.environ.get('K_REVISION', 'knative')}/{socket.gethostname()}:{os.getpid()}")


if __name__ == "__main__":
    main()
