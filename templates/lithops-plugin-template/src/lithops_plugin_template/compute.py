"""The ``template`` compute backend: each worker invocation runs in a thread of this process.

It uses the storage transport, as serverless backends do: the client uploads the function and the call data
to storage, this backend delivers one JSON payload per group of calls to a "worker", and the worker runs
:func:`lithops.worker.handler.run_payload`, which writes each call's status (and output) back to storage for
the client to collect. Here the worker is a thread; in a real backend ``_deliver`` sends the payload to your
platform (an HTTP invoke, a queue message, a container command) whose entry point calls ``run_payload``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.worker.handler import run_payload

logger = logging.getLogger(__name__)


class TemplateBackend(ComputeBackend):
    """Runs each worker payload in a thread pool of ``max_workers`` threads."""

    transport: ClassVar[str] = "storage"

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any]) -> None:
        super().__init__(config, lithops_config)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._cancelled: set[str] = set()

    @property
    def max_workers(self) -> int:
        """How many calls run at once."""
        return int(self.config["max_workers"])

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Deliver one payload per group of calls (``job.chunks()``); return once all are on their way."""
        for call_ids in job.chunks():
            wire = json.dumps(job.worker_payload(call_ids))  # what would travel to a remote worker
            self._deliver(job.job_key, wire)

    def _deliver(self, job_key: str, wire: str) -> None:
        with self._lock:
            if self._pool is None:  # created on first use, again after close()
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="lithops-template")
            try:
                self._pool.submit(self._worker, job_key, wire)
            except RuntimeError as exc:  # the interpreter is shutting down
                raise BackendError(f"backend 'template' cannot start job {job_key}: {exc}") from exc

    def _worker(self, job_key: str, wire: str) -> None:
        """What a remote worker does with a payload."""
        if job_key in self._cancelled:
            return
        try:
            run_payload(json.loads(wire))
        except Exception:  # a real platform would log this; the client fails the calls after their timeout
            logger.exception("template worker failed to run a payload of job %s", job_key)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Skip the queued payloads of these jobs (running threads cannot be stopped)."""
        self._cancelled.update(job_keys)

    def close(self) -> None:
        """Let running payloads finish; a later invoke starts a new pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
