"""The ``template`` compute backend: each worker invocation runs in a thread of this process.

It uses the storage transport, as serverless backends do: the client uploads the function and the call data
to storage, this backend delivers one JSON payload per group of calls to a "worker", and the worker runs
:func:`lithops.worker.handler.run_payload`, which writes each call's status (and output) back to storage for
the client to collect. Here the worker is a thread of the client, so it passes ``in_process=True`` (the calls
then leave the client's environment alone, and ``extra_env`` is refused); in a real backend ``_deliver`` sends the
payload to your platform (an HTTP invoke, a queue message, a container command) whose entry point calls
``run_payload(payload)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.helpers import DaemonThreads, report_failed
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.plugins import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops.worker.handler import run_payload

from lithops_plugin_template.plugin import COMPUTE_CONFIG


class TemplateBackend(ComputeBackend):
    """Runs each worker payload in a thread pool of ``max_workers`` threads."""

    transport: ClassVar[str] = "storage"
    #: Calls run on this machine and often finish within milliseconds: poll their statuses often (the config's
    #: lithops.monitoring_interval, when set, wins).
    status_interval: ClassVar[float] = 0.1
    #: The section's schema, the same mapping the spec declares: the base class checks ``config`` against it and
    #: fills its defaults, so ``self.config["max_workers"]`` is always there (the base ``max_workers`` reads it).
    config_schema: ClassVar[Mapping[str, ConfigKey]] = COMPUTE_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self._lock = threading.Lock()
        self._pool: DaemonThreads | None = None
        self._cancelled: set[str] = set()

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Deliver one payload per group of calls (``job.chunks()``); return once all are on their way."""
        for call_ids in job.chunks():
            wire = json.dumps(job.worker_payload(call_ids))  # what would travel to a remote worker
            self._deliver(job.job_key, wire, report)

    def _deliver(self, job_key: str, wire: str, report: StatusReporter) -> None:
        with self._lock:
            if self._pool is None:  # created on first use, again after close()
                self._pool = DaemonThreads(self.max_workers, name="lithops-template")
            try:
                self._pool.submit(self._worker, job_key, wire, report)
            except RuntimeError as exc:
                raise BackendError(f"backend 'template' cannot start job {job_key}: {exc}") from exc

    def _worker(self, job_key: str, wire: str, report: StatusReporter) -> None:
        """What a remote worker does with a payload."""
        if job_key in self._cancelled:
            return
        payload = json.loads(wire)
        try:
            # in_process: this thread is in the client's own process, whose environment the calls must not change
            run_payload(payload, in_process=True)
        except Exception as exc:  # the worker broke outside the calls: fail them now, not after their timeout
            report_failed(report, payload, exc)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Skip the queued payloads of these jobs (running threads cannot be stopped)."""
        self._cancelled.update(job_keys)

    def close(self) -> None:
        """Let running payloads finish; a later invoke starts a new pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()
