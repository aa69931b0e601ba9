"""The worker entry point of the storage transport: run a payload's calls, write their status to storage.

A serverless or standalone backend delivers the JSON payload of :meth:`lithops.job.JobRequest.worker_payload`
to :func:`run_payload` in its worker (Lambda handler, HTTP service, container command). See docs/protocol.md.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lithops.constants import PROTOCOL_VERSION
from lithops.errors import ProtocolMismatchError
from lithops.job.job import job_prefix
from lithops.job.status import CallStatus, encode_exception
from lithops.storage.storage import Storage
from lithops.worker.calls import CallRunner


def status_key(executor_id: str, job_id: str, call_id: str) -> str:
    """Storage key of a call's ``status.json``."""
    return f"{job_prefix(executor_id, job_id)}/{call_id}/status.json"


def output_key(executor_id: str, job_id: str, call_id: str) -> str:
    """Storage key of a call's pickled result."""
    return f"{job_prefix(executor_id, job_id)}/{call_id}/output.pickle"


def logs_key(executor_id: str, job_id: str, call_id: str) -> str:
    """Storage key of a call's captured stdout and stderr (written only when the call printed something)."""
    return f"{job_prefix(executor_id, job_id)}/{call_id}/logs.txt"


def started_key(executor_id: str, job_id: str, call_id: str) -> str:
    """Storage key of a call's start marker (an empty object written when a worker starts the call)."""
    return f"{job_prefix(executor_id, job_id)}/{call_id}/started"


def mark_started(storage: Any, bucket: str, executor_id: str, job_id: str, call_id: str) -> None:
    """Write a call's start marker, telling the client a worker took the call (so it is not failed as never
    started, :attr:`lithops.backends.compute.ComputeBackend.start_timeout`). ``storage`` is a storage backend.
    """
    storage.put_object(bucket, started_key(executor_id, job_id, call_id), b"")


def write_status(storage: Any, bucket: str, status: CallStatus) -> bool:
    """Write a call's ``status.json`` to storage, after its ``output.pickle`` (and ``logs.txt`` when it printed
    something); return whether the call succeeded. ``storage`` is a storage backend (``Storage.storage_handler``).
    """
    executor_id, job_id = status.executor_id, status.job_id
    if status.logs:
        key = logs_key(executor_id, job_id, status.call_id)
        storage.put_object(bucket, key, status.logs)
        status.logs, status.logs_key = None, key
    if status.output is not None:
        key = output_key(executor_id, job_id, status.call_id)
        start = time.time()
        storage.put_object(bucket, key, status.output)
        status.stats["worker_result_upload_time"] = time.time() - start
        status.output, status.output_key = None, key
    storage.put_object(bucket, status_key(executor_id, job_id, status.call_id), status.to_json().encode())
    return status.success


def run_payload(payload: dict[str, Any], parallelism: int = 1, *, in_process: bool = False) -> dict[str, Any]:
    """Run every call of a worker payload; return a summary ``{'call_ids', 'succeeded', 'failed'}``.

    Each call's ``started`` marker is written to storage when it starts, and its ``status.json`` (and
    ``output.pickle`` on success, ``logs.txt`` when it printed something) when it ends, so the client sees the
    call finish whatever happens to this invocation afterwards. A call that cannot even start (wrong protocol
    version, unreadable function or data) gets a failed status saying why, rather than no status.
    ``parallelism`` > 1 runs calls in threads, where execution timeouts cannot be enforced and output is not
    captured. ``in_process``: this is the client's own process (an in-process backend): the calls leave its
    environment, output and signals alone, and a job with ``extra_env`` fails (see :class:`CallRunner`).
    """
    version = payload.get("protocol")
    mismatch = None
    if version != PROTOCOL_VERSION:
        mismatch = ProtocolMismatchError(
            f"this worker speaks job protocol {PROTOCOL_VERSION}, the payload is version {version}. "
            f"Rebuild the runtime with the client's lithops-core version."
        )
    try:
        client = Storage.for_worker(payload["config"], payload["storage_backend"])
        executor_id, job_id = payload["executor_id"], payload["job_id"]
        call_ids = list(payload["call_ids"])
    except Exception:
        if mismatch is not None:
            raise mismatch from None
        raise
    storage, bucket = client.storage_handler, client.bucket

    def write(status: CallStatus) -> bool:
        return write_status(storage, bucket, status)

    def fail_all(error: BaseException) -> None:
        for call_id in call_ids:
            write(CallStatus(executor_id, job_id, call_id, success=False, exception=encode_exception(error)))

    if mismatch is not None:
        fail_all(mismatch)
        raise mismatch
    try:
        function = storage.get_object(bucket, payload["func_key"])
        assert isinstance(function, bytes)
    except Exception as exc:
        fail_all(exc)
        raise
    runner = CallRunner(payload, function, in_process=in_process)

    def run_one(call_id: str) -> bool:
        start, end = payload["data_byte_ranges"][call_id]
        try:
            mark_started(storage, bucket, executor_id, job_id, call_id)
            data = storage.get_range(bucket, payload["data_key"], start, end)
            assert isinstance(data, bytes)
        except Exception as exc:
            return write(CallStatus(executor_id, job_id, call_id, success=False, exception=encode_exception(exc)))
        return write(runner.run(call_id, data))

    if parallelism > 1 and len(call_ids) > 1:
        with ThreadPoolExecutor(parallelism) as pool:
            outcomes = list(pool.map(run_one, call_ids))
    else:
        outcomes = [run_one(cid) for cid in call_ids]
    return {"call_ids": call_ids, "succeeded": sum(outcomes), "failed": len(outcomes) - sum(outcomes)}
