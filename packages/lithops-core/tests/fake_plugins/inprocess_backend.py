"""In-process compute backends for the kernel's own tests: each call runs in a thread of the test process.

They stand in for a real backend so that the executor, monitor, wait, chaining, cancel and retries logic is
tested fast and alone (no worker processes, no localhost plugin). The function runs on the job's own pickled
bytes, so what the executor builds is what runs, through the worker's ``CallRunner`` in its in-process mode (the
way a backend that runs calls in the client's own process must: no time limits, no output capture, the worker
flag and config in the call's context rather than in ``os.environ``, ``extra_env`` refused).

``inprocess`` pushes each status to the monitor (as localhost does); ``inprocess_storage`` writes it to the
executor's storage for the monitor to poll (as serverless backends do). Both use the plugin template's
in-memory storage. ``inprocess_quickstart`` is ``inprocess_storage`` declaring a start-up bound of 1 s
(``ComputeBackend.start_timeout``). A test steers a backend through its instance (``fexec.compute``): ``gate``
holds calls until it is set, ``drop`` lists call ids whose status never comes (a worker lost after it started
them), ``never_start`` call ids that are never started (a lost invocation), ``invoke_delay`` seconds ``invoke``
takes before it returns (a backend that boots machines first), ``write_markers`` (storage
transport) whether started calls get their start marker (False: a worker built before markers), ``invoke_error``
makes ``invoke`` fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.helpers import DaemonThreads
from lithops.job.job import JobRequest
from lithops.job.status import CallStatus
from lithops.plugins import ComputeBackendSpec, ConfigKey, hookimpl
from lithops.storage.job_storage import JobStorage
from lithops.storage.storage import Storage
from lithops.worker.calls import CallRunner
from lithops.worker.handler import mark_started, write_status

LITHOPS_PLUGIN_API = "1"

#: Longest a held call waits for its gate (a test that forgets to open it still ends).
GATE_TIMEOUT_SEC = 30


def run_call(job: JobRequest, call_id: str, data: bytes) -> CallStatus:
    """Run one call of ``job`` from its pickled function and input; its status, output inline.

    Runs it as an in-process backend must (``CallRunner(..., in_process=True)``): the test process's environment,
    output and signals are left alone, and a job with ``extra_env`` fails with the reason.
    """
    meta = {"executor_id": job.executor_id, "job_id": job.job_id, "inject": job.inject, "extra_env": job.extra_env,
            "execution_timeout": job.execution_timeout, "result_limit": job.result_limit, "config": job.config,
            "storage_backend": job.storage_backend, "host_submit_tstamp": job.submitted}
    return CallRunner(meta, job.function, in_process=True).run(call_id, data)


_CONFIG = {"max_workers": ConfigKey(type=int, default=8, minimum=1, doc="calls that run at once (threads)")}


class InProcessBackend(ComputeBackend):
    """Runs each call in a thread of this process and reports its status itself (push transport)."""

    transport: ClassVar[str] = "push"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = _CONFIG
    ships_modules: ClassVar[bool] = False  # the calls run here: the test modules are importable

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        #: Calls wait until this is set (None: they run at once).
        self.gate: threading.Event | None = None
        #: Call ids whose status is never delivered.
        self.drop: set[str] = set()
        #: Call ids that are never started.
        self.never_start: set[str] = set()
        #: Whether started calls get their start marker (storage transport).
        self.write_markers = True
        #: Seconds ``invoke`` takes before it starts the calls.
        self.invoke_delay = 0.0
        #: Raised by :meth:`invoke` when set.
        self.invoke_error: BaseException | None = None
        #: Jobs invoked, in order.
        self.jobs: list[JobRequest] = []
        #: Job keys that :meth:`cancel` was asked to stop.
        self.cancelled: set[str] = set()
        self._threads = DaemonThreads(self.max_workers, name="lithops-inprocess")

    @property
    def max_workers(self) -> int:
        """How many calls run at once."""
        return int(self.config["max_workers"])

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Start a thread task per call."""
        if self.invoke_error is not None:
            raise self.invoke_error
        time.sleep(self.invoke_delay)
        self.jobs.append(job)
        for call_id, data in zip(job.call_ids, job.call_data, strict=True):
            self._threads.submit(self._run, job, call_id, data, report)

    def _run(self, job: JobRequest, call_id: str, data: bytes, report: StatusReporter) -> None:
        if self.gate is not None:
            self.gate.wait(GATE_TIMEOUT_SEC)
        if job.job_key in self.cancelled or call_id in self.never_start:
            return
        self.starting(job, call_id)
        status = run_call(job, call_id, data)
        if call_id not in self.drop:
            self.deliver(job, status, report)

    def starting(self, job: JobRequest, call_id: str) -> None:
        """A call is about to run (push backends report only the end)."""

    def deliver(self, job: JobRequest, status: CallStatus, report: StatusReporter) -> None:
        """Hand a finished call's status to the client."""
        report(status)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Calls of these jobs that have not started never report."""
        self.cancelled.update(job_keys)

    def close(self) -> None:
        """Let running calls finish."""
        self._threads.shutdown()
        self._threads = DaemonThreads(self.max_workers, name="lithops-inprocess")


class InProcessStorageBackend(InProcessBackend):
    """Like :class:`InProcessBackend`, but the statuses go through storage (storage transport), written the way
    workers write them, for the executor's monitor to poll.
    """

    transport: ClassVar[str] = "storage"

    def starting(self, job: JobRequest, call_id: str) -> None:
        """Write the call's start marker, as workers do."""
        if not self.write_markers:
            return
        storage = Storage.for_worker(job.config, job.storage_backend)
        mark_started(storage.storage_handler, storage.bucket, job.executor_id, job.job_id, call_id)

    def deliver(self, job: JobRequest, status: CallStatus, report: StatusReporter) -> None:
        """Write the status (and output) to the job's storage."""
        storage = Storage.for_worker(job.config, job.storage_backend)
        write_status(storage.storage_handler, storage.bucket, status)


class QuickStartBackend(InProcessStorageBackend):
    """Declares that its calls start within a second."""

    start_timeout: ClassVar[float | None] = 1.0


class PigeonBackend(InProcessBackend):
    """Declares a transport the kernel does not know."""

    transport: ClassVar[str] = "pigeon"




@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The in-process backends, on the plugin template's in-memory storage."""
    return [
        ComputeBackendSpec(name="inprocess", mode="serverless", backend="inprocess_backend:InProcessBackend",
                           config=_CONFIG, default_storage="template_storage",
                           description="calls in threads of this process, statuses pushed (kernel tests)"),
        ComputeBackendSpec(name="inprocess_storage", mode="serverless",
                           backend="inprocess_backend:InProcessStorageBackend", config=_CONFIG,
                           default_storage="template_storage",
                           description="calls in threads of this process, statuses through storage (kernel tests)"),
        ComputeBackendSpec(name="inprocess_quickstart", mode="serverless",
                           backend="inprocess_backend:QuickStartBackend", config=_CONFIG,
                           default_storage="template_storage",
                           description="inprocess_storage with a start-up bound of 1 s (kernel tests)"),
        ComputeBackendSpec(name="inprocess_pigeon", mode="serverless", backend="inprocess_backend:PigeonBackend",
                           config=_CONFIG, default_storage="template_storage",
                           description="a backend with an unknown transport (kernel tests)"),
    ]
