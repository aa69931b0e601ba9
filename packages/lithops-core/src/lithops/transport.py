"""How an executor's jobs reach the workers and their statuses come back: one small strategy per value of
:attr:`lithops.backends.ComputeBackend.transport`.

``storage``: the function and call data are uploaded before the backend is invoked, the workers write each
call's status to storage, and the monitor polls it; the job's objects are deleted by ``clean``.
``push``: the backend hands statuses to the monitor itself; only the statuses of futures pickled before they
finished are written to storage (for the copies to read), and those are all that ``clean`` deletes.
"""

from __future__ import annotations

import time
from typing import ClassVar

from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.job.status import CallStatus
from lithops.monitor import JobMonitor
from lithops.storage.job_storage import JobStorage


class Transport:
    """The executor's side of one transport.

    Args:
        storage: the executor's storage.
        monitor: the executor's monitor.
    """

    #: The :attr:`ComputeBackend.transport` value this strategy serves.
    name: ClassVar[str]

    def __init__(self, storage: JobStorage, monitor: JobMonitor) -> None:
        self.storage = storage
        self.monitor = monitor

    def send(self, job: JobRequest) -> tuple[float, float]:
        """Make ``job`` ready for the backend's ``invoke``; return the seconds spent uploading its function and
        its call data.
        """
        raise NotImplementedError

    def stored_jobs(self, jobs: set[str], exported: set[str]) -> set[str]:
        """Of these jobs, those that may have objects in storage; ``exported``: jobs with pickled futures."""
        raise NotImplementedError


class StorageTransport(Transport):
    """Inputs go through storage, and statuses come back through it."""

    name = "storage"

    def send(self, job: JobRequest) -> tuple[float, float]:
        """Upload the function and the concatenated call data, and have the monitor poll for the statuses."""
        storage = self.storage.get()
        bucket = storage.bucket
        job.func_key = f"{job.prefix}/func.pickle"
        job.data_key = f"{job.prefix}/aggdata.pickle"
        offset, ranges = 0, []
        for blob in job.call_data:
            ranges.append((offset, offset + len(blob)))
            offset += len(blob)
        job.data_ranges = ranges
        start = time.time()
        storage.put_object(bucket, job.func_key, job.function)
        uploaded = time.time()
        storage.put_object(bucket, job.data_key, b"".join(job.call_data))
        self.monitor.watch_storage(job, storage.storage_handler, bucket)
        return uploaded - start, time.time() - uploaded

    def stored_jobs(self, jobs: set[str], exported: set[str]) -> set[str]:
        """Every job wrote its inputs and statuses to storage."""
        return jobs


class PushTransport(Transport):
    """The backend pushes statuses; pickled futures get theirs written to storage by the client."""

    name = "push"

    def __init__(self, storage: JobStorage, monitor: JobMonitor) -> None:
        super().__init__(storage, monitor)
        monitor.publisher = self.publish

    def publish(self, status: CallStatus) -> None:
        """Write a call's status to storage, as storage-transport workers do, for pickled copies of its future."""
        from lithops.worker.handler import write_status  # the workers' writer; imported only when needed

        storage = self.storage.get()
        write_status(storage.storage_handler, storage.bucket, status)

    def send(self, job: JobRequest) -> tuple[float, float]:
        """Nothing to upload: the backend takes the job as it is."""
        return 0.0, 0.0

    def stored_jobs(self, jobs: set[str], exported: set[str]) -> set[str]:
        """Only jobs with pickled futures have (their statuses) in storage."""
        return jobs & exported


TRANSPORTS: dict[str, type[Transport]] = {cls.name: cls for cls in (StorageTransport, PushTransport)}


def transport_for(backend_name: str, transport: str, storage: JobStorage, monitor: JobMonitor) -> Transport:
    """The strategy for a backend that declares ``transport``.

    Raises:
        BackendError: the backend declares a transport the kernel does not know.
    """
    cls = TRANSPORTS.get(transport)
    if cls is None:
        raise BackendError(
            f"compute backend '{backend_name}' declares transport {transport!r}; the kernel knows "
            f"{', '.join(repr(t) for t in TRANSPORTS)}. Fix the backend class's 'transport' attribute "
            f"(docs/plugins.md)."
        )
    return cls(storage, monitor)
