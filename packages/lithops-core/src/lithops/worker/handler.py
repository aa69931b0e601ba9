"""The worker entry point of the storage transport: run a payload's calls, write their status to storage.

A serverless or standalone backend delivers the JSON payload of :meth:`lithops.job.JobRequest.worker_payload`
to :func:`run_payload` in its worker (Lambda handler, HTTP service, container command). See docs/protocol.md.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lithops.constants import PROTOCOL_VERSION
from lithops.errors import ProtocolMismatchError
from lithops.job.job import cancelled_key, job_prefix
from lithops.job.status import CallStatus, encode_exception
from lithops.storage.storage import Storage
from lithops.worker.calls import CallRunner

logger = logging.getLogger(__name__)


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


class CancelCheck:
    """Whether a job was cancelled, asked of storage before a payload's calls at most once per
    :attr:`INTERVAL` seconds (never before its first call: the payload was just delivered), so a short payload
    costs no request and a long one a few.
    """

    #: Seconds between two looks at the cancel marker.
    INTERVAL = 0.5

    def __init__(self, storage: Any, bucket: str, executor_id: str, job_id: str) -> None:
        self.storage, self.bucket, self.key = storage, bucket, cancelled_key(executor_id, job_id)
        self._last = time.monotonic()
        self._cancelled = False
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        """True once the job's cancel marker was seen."""
        from lithops.storage.utils import StorageNoSuchKeyError

        with self._lock:
            if self._cancelled or time.monotonic() - self._last < self.INTERVAL:
                return self._cancelled
            self._last = time.monotonic()
            try:
                self.storage.head_object(self.bucket, self.key)
                self._cancelled = True
            except StorageNoSuchKeyError:
                pass
            except Exception as exc:  # storage hiccup: go on running the calls
                logger.warning("could not look for the cancel marker %s: %s", self.key, exc)
            return self._cancelled


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


def fail_calls_without_status(storage: Any, bucket: str, payload: dict[str, Any], error: BaseException,
                              stats: dict[str, Any] | None = None) -> int:
    """Write a failed status with ``error`` (and ``stats``) for each call of ``payload`` that has no status yet, so
    the client learns at once that its worker is gone; return how many were written. ``storage`` is a storage
    backend (``Storage.storage_handler``).
    """
    from lithops.backends.helpers import failed_status
    from lithops.storage.utils import StorageNoSuchKeyError

    executor_id, job_id = payload["executor_id"], payload["job_id"]

    def fail_one(call_id: str) -> int:
        try:
            storage.head_object(bucket, status_key(executor_id, job_id, call_id))
            return 0
        except StorageNoSuchKeyError:
            pass
        write_status(storage, bucket, failed_status(executor_id, job_id, call_id, error, dict(stats or {})))
        return 1

    call_ids = list(payload["call_ids"])
    with ThreadPoolExecutor(min(16, max(1, len(call_ids)))) as pool:
        return sum(pool.map(fail_one, call_ids))


def run_payload(payload: dict[str, Any], parallelism: int = 1, *, in_process: bool = False) -> dict[str, Any]:
    """Run every call of a worker payload; return a summary ``{'call_ids', 'succeeded', 'failed', 'cancelled'}``.

    Each call's ``started`` marker is written to storage when it starts, and its ``status.json`` (and
    ``output.pickle`` on success, ``logs.txt`` when it printed something) when it ends, so the client sees the
    call finish whatever happens to this invocation afterwards. A call that cannot even start (wrong protocol
    version, unreadable function or data) gets a failed status saying why, rather than no status. Calls not
    started when the job's cancel marker appears (:class:`CancelCheck`) are skipped, with no status (the client
    that cancelled them failed their futures). ``parallelism`` > 1 runs calls in threads, where execution
    timeouts cannot be enforced and output is not captured. ``in_process``: this is the client's own process (an
    in-process backend): the calls leave its environment, output and signals alone, and a job with
    ``extra_env`` fails (see :class:`CallRunner`).
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
    cancelled = CancelCheck(storage, bucket, executor_id, job_id)

    def run_one(call_id: str) -> bool | None:
        if cancelled():
            return None
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
    succeeded = sum(1 for outcome in outcomes if outcome)
    skipped = sum(1 for outcome in outcomes if outcome is None)
    if skipped:
        logger.info("job %s was cancelled: %d call(s) of this payload were not started", job_id, skipped)
    return {"call_ids": call_ids, "succeeded": succeeded, "failed": len(outcomes) - succeeded - skipped,
            "cancelled": skipped}
