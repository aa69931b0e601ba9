"""Worker payloads kept in storage, for invocations over a platform's request limit (Lambda's 256 KiB asynchronous
events, a queue's message size) and for payload lists that array jobs index (AWS Batch, Code Engine, Kubernetes).

The client writes the payload (or a list of them) to the executor's storage and sends a small reference instead:
``{"storage": {"name", "backend", "config", "bucket"}, "key": ...}``. The worker opens that storage with the same
storage backend class and reads the payload back.
"""

from __future__ import annotations

import json
from typing import Any

from lithops.backends.compute import ComputeBackend
from lithops.job.job import JobRequest


def put_payload(backend: ComputeBackend, job: JobRequest, key: str, payload: Any) -> dict[str, Any]:
    """Write ``payload`` (JSON) to the executor's storage under ``key``; return the reference a worker reads."""
    storage, storage_path = backend.job_storage()
    storage.put_object(storage.bucket, key, json.dumps(payload).encode())
    spec = {"name": storage.backend, "backend": job.storage_backend or storage_path,
            "config": storage.storage_config[storage.backend], "bucket": storage.bucket}
    return {"storage": spec, "key": key}


def get_payload(reference: dict[str, Any]) -> Any:
    """Read the payload a :func:`put_payload` reference points at (worker side)."""
    from lithops.plugins.specs import import_object

    spec = reference["storage"]
    handler = import_object(spec["backend"])(spec["config"])
    handler.name = spec["name"]
    return json.loads(handler.get_object(spec["bucket"], reference["key"]))
