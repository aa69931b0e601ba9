"""The contract of a compute backend: what the executor asks of it.

A compute backend receives :class:`lithops.job.JobRequest` objects and makes every call run, then reports each
call's :class:`lithops.job.CallStatus` in one of two ways, chosen by :attr:`ComputeBackend.transport`:

``"storage"``
    The executor uploads the function and call data to the storage backend before :meth:`invoke`; the backend
    delivers :meth:`JobRequest.worker_payload` documents to workers that run
    :func:`lithops.worker.handler.run_payload`, which writes each call's status to storage. The executor polls
    it. This is how serverless and standalone backends work (docs/protocol.md).
``"push"``
    The backend calls ``report(status)`` itself for every call, with the output inline (localhost).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from lithops.config import backend_settings
from lithops.errors import BackendError
from lithops.job.job import JobRequest, cancelled_key
from lithops.job.status import CallStatus
from lithops.plugins.specs import ConfigKey

if TYPE_CHECKING:
    from lithops.storage.job_storage import JobStorage
    from lithops.storage.storage import Storage

logger = logging.getLogger(__name__)

StatusReporter = Callable[[CallStatus], None]

#: Seconds between status polls when neither the config (``lithops.monitoring_interval``) nor the backend
#: (:attr:`ComputeBackend.status_interval`) says.
DEFAULT_STATUS_INTERVAL = 2.0
#: Default of :attr:`ComputeBackend.start_timeout` (seconds).
DEFAULT_START_TIMEOUT = 300.0

#: Calls that may run at once for a backend whose schema declares no ``max_workers`` key.
DEFAULT_MAX_WORKERS = 1000


class ComputeBackend(ABC):
    """Base class of compute backends.

    Args:
        config: the backend's own config section. It is checked against :attr:`config_schema` and its defaults
            are filled in here, however the backend is built (by the executor, or from a dict in a test), so
            ``self.config[key]`` holds every key the schema gives a default: read it without a fallback.
        lithops_config: the whole executor config (other sections, such as shared credentials).
        storage: the executor's storage (a :class:`lithops.storage.job_storage.JobStorage`), handed over by the
            executor; read it with :meth:`job_storage`. A subclass that defines ``__init__`` passes it on.

    Raises:
        ConfigError: a value of ``config`` is wrong, or a required key is missing.
    """

    #: The schema of the backend's config section: the same mapping its spec's ``config`` is (the plugin contract
    #: checks that they agree).
    config_schema: ClassVar[Mapping[str, ConfigKey]] = {}

    #: ``"storage"`` or ``"push"``; see the module documentation.
    transport: ClassVar[str] = "storage"
    #: Whether workers need the user's own modules shipped with the function (False when they share this
    #: machine's file system and ``sys.path``).
    ships_modules: ClassVar[bool] = True
    #: Seconds between status polls of storage that suit this backend (storage transport), used when
    #: ``lithops.monitoring_interval`` is not set; None for :data:`DEFAULT_STATUS_INTERVAL`. A backend whose calls often
    #: finish within a second (workers on this machine, warm containers) declares less.
    status_interval: ClassVar[float | None] = None
    #: Seconds within which this backend's workers start a call it was given (storage transport: the worker writes
    #: the call's ``started`` marker, docs/protocol.md). Calls with neither marker nor status this long after
    #: the executor's last progress (end of ``invoke``, a marker, a status), while none of its calls runs, fail
    #: with :class:`lithops.errors.BackendError` naming the backend. Declare more where calls may wait for
    #: capacity shared with other clients (a batch queue, shared VMs); None: no bound (only the execution timeout
    #: applies).
    start_timeout: ClassVar[float | None] = DEFAULT_START_TIMEOUT

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        self.config = backend_settings(type(self).__name__, config, self.config_schema)
        self.lithops_config = lithops_config
        self._job_storage = storage

    @abstractmethod
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Start every call of ``job`` and return once they are submitted, not finished.

        Push backends call ``report`` once per call, from any thread, when it ends (a call whose worker died
        is reported failed with :class:`lithops.errors.WorkerDiedError`). Storage backends may call it to fail
        calls that could not be started (a rejected invocation); the executor then stops waiting for their
        status documents.

        A backend whose platform stops calls sooner than ``job.execution_timeout`` may lower it here: the
        payloads carry the lowered value and the client's deadline for missing statuses follows it.

        Raises:
            BackendError: the calls could not be submitted; nothing of this job is running.
        """

    def job_storage(self) -> tuple[Storage, str]:
        """The executor's :class:`lithops.Storage` (made on first use), and its backend's class import string.

        The import string is what workers import. For backends that write objects of their own (payload
        lists, queues, agent documents).

        Raises:
            BackendError: the backend was built without ``storage``.
        """
        if self._job_storage is None:
            raise BackendError(
                f"{type(self).__name__} was built without the executor's storage: pass "
                f"storage=JobStorage.from_config(config) (lithops.storage.job_storage) when building it by hand"
            )
        return self._job_storage.get(), self._job_storage.backend_path

    def cancel_jobs(self, job_keys: Collection[str]) -> None:
        """Cancel these jobs, as the executor does on Ctrl-C and ``clean(force=True)``: for the storage transport,
        write each job's cancel marker, after which workers start none of its calls (between the calls of a
        payload, :class:`lithops.worker.handler.CancelCheck`); then :meth:`cancel`. Not meant to be overridden.
        """
        if self.transport == "storage" and self._job_storage is not None and job_keys:
            _write_cancel_markers(self._job_storage, job_keys)
        self.cancel(job_keys)

    def cancel(self, job_keys: Collection[str]) -> None:  # noqa: B027 - optional operation
        """Stop the calls of these jobs that have not finished, if the backend can (best effort). The kernel calls
        it through :meth:`cancel_jobs`, after workers were told to start no further call of these jobs.
        """

    def close(self) -> None:  # noqa: B027 - optional operation
        """Release workers and connections; the backend is not used afterwards."""

    def clean_leftovers(self) -> list[str]:
        """Delete what this backend's executors left on its platform when their client died before ``close()``
        (jobs, pods, queues), for ``lithops clean``; return one line for each thing deleted. Optional: the default
        has nothing to delete, and ``lithops clean`` does not build a backend that keeps it.
        """
        return []

    @property
    def max_workers(self) -> int:
        """How many calls may run at once: the section's ``max_workers``, or :data:`DEFAULT_MAX_WORKERS` when the
        schema has no such key.
        """
        value = self.config.get("max_workers")
        return DEFAULT_MAX_WORKERS if value is None else int(value)


def _write_cancel_markers(job_storage: JobStorage, job_keys: Collection[str]) -> None:
    """Write the cancel marker of each job (``<executor_id>-<job_id>`` keys); a failure is logged, not raised (the
    backend's own cancel still runs).
    """
    try:
        storage = job_storage.get()
        for key in job_keys:
            executor_id, _, job_id = key.rpartition("-")
            storage.put_object(storage.bucket, cancelled_key(executor_id, job_id), b"")
    except Exception as exc:
        logger.warning("could not tell workers that jobs %s are cancelled: %s", ", ".join(sorted(job_keys)), exc)
