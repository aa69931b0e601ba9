"""Watching array jobs: backends that run a map as one platform run whose index ``i`` runs the calls of group ``i``.

AWS Batch array jobs, Code Engine job runs and Kubernetes indexed Jobs run each index in a container of its own.
When a container never starts (an image that cannot be pulled, a queue that cannot run the job) or dies without
writing the statuses of its calls (killed for its memory, evicted), only the platform knows; without a look at
it, those futures would wait for the execution timeout. :class:`ArrayJobs` keeps the runs a backend submitted,
polls them on one daemon thread, and fails the calls of a failed index that have no status in storage, with a
:class:`lithops.errors.WorkerDiedError` worded by the backend, so they raise within a poll interval.

The backend is the :class:`ArrayPlatform`: it answers only for its platform, that is which indices of the watched
runs failed and why (:meth:`ArrayPlatform.poll_runs`, which calls :meth:`ArrayJobs.fail`, :meth:`ArrayJobs.finish`
and :meth:`ArrayJobs.stop`), how the error of a failed index reads, and how a run is stopped. Its ``cancel`` and
``close`` hand over to :meth:`ArrayJobs.cancel` and :meth:`ArrayJobs.close`.

A closed :class:`ArrayJobs` stops its thread (waiting for it at most :attr:`ArrayJobs.CLOSE_TIMEOUT` seconds) and
forgets the runs it watched; a run watched afterwards is polled by a new thread.

Nothing here imports a cloud SDK.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from lithops.backends.compute import DEFAULT_STATUS_INTERVAL, StatusReporter
from lithops.backends.helpers import failed_status
from lithops.errors import WorkerDiedError
from lithops.job.job import job_key, job_prefix

if TYPE_CHECKING:
    from lithops.backends.compute import ComputeBackend
    from lithops.storage.storage import Storage

logger = logging.getLogger(__name__)

#: Calls whose statuses :func:`unwritten_calls` looks up one by one; for more, one listing of the job is cheaper.
HEAD_LIMIT = 10
#: The reason a cancelled run is stopped with.
CANCELLED = "cancelled by Lithops"


def poll_interval(backend: ComputeBackend, minimum: float) -> float:
    """Seconds between two polls of a backend's runs: ``lithops.monitoring_interval``, else the backend's
    ``status_interval``, else :data:`lithops.backends.compute.DEFAULT_STATUS_INTERVAL`; at least ``minimum``.
    """
    interval = float((backend.lithops_config.get("lithops") or {}).get("monitoring_interval")
                     or backend.status_interval or DEFAULT_STATUS_INTERVAL)
    return max(minimum, interval)


def unwritten_calls(storage: Storage, executor_id: str, job_id: str, call_ids: list[str]) -> list[str]:
    """The calls among ``call_ids`` (in their order) whose status document is not in the job's storage.

    Up to :data:`HEAD_LIMIT` calls are looked up one by one; more with one listing of the job's objects.
    """
    from lithops.storage.utils import StorageNoSuchKeyError
    from lithops.worker.handler import status_key

    if len(call_ids) <= HEAD_LIMIT:
        missing = []
        for call_id in call_ids:
            try:
                storage.head_object(storage.bucket, status_key(executor_id, job_id, call_id))
            except StorageNoSuchKeyError:
                missing.append(call_id)
        return missing
    prefix = job_prefix(executor_id, job_id) + "/"
    written = {key[len(prefix):].split("/", 1)[0] for key in storage.list_keys(storage.bucket, prefix)
               if key.endswith("/status.json")}
    return [call_id for call_id in call_ids if call_id not in written]


@dataclass(eq=False)
class ArrayRun:
    """One submitted array run: index ``i`` runs the calls ``groups[i]`` of job ``job_id`` of ``executor_id``.

    ``name`` is the platform's name (or id) of the run, ``report`` the reporter ``invoke`` was given.
    """

    executor_id: str
    job_id: str
    name: str
    groups: list[list[str]]
    report: StatusReporter
    #: Indices whose calls were already failed (each is failed once).
    failed: set[int] = field(default_factory=set)
    #: Whether the backend already warned about this run (e.g. that its containers wait for capacity).
    warned: bool = False
    #: Whether :meth:`ArrayJobs.cancel` stopped it (it is stopped once).
    cancelled: bool = False

    @property
    def job_key(self) -> str:
        """The Lithops job key (``<executor_id>-<job_id>``)."""
        return job_key(self.executor_id, self.job_id)


class ArrayPlatform(Protocol):
    """What a backend gives :class:`ArrayJobs`: its platform's calls. A :class:`ComputeBackend` has
    ``job_storage`` already.
    """

    def job_storage(self) -> tuple[Storage, str]:
        """The executor's storage, where the workers write the calls' statuses."""
        ...

    def poll_runs(self, runs: list[ArrayRun]) -> None:
        """One look at the platform: call :meth:`ArrayJobs.fail` for the indices of ``runs`` that failed (with the
        platform's reason), :meth:`ArrayJobs.finish` for the runs that ended and :meth:`ArrayJobs.stop` for those
        that can never finish. An exception is logged and the poll is tried again at the next interval.
        """
        ...

    def index_failure(self, run: ArrayRun, index: int, reason: str) -> str:
        """The message of the error the calls of a failed index get, naming the run, the index and ``reason``."""
        ...

    def stop_run(self, run: ArrayRun, reason: str) -> None:
        """Stop (cancel, terminate or delete) ``run`` on the platform; raise when that fails."""
        ...


class ArrayJobs:
    """The array runs a backend submitted, and the daemon thread that polls the ones still running.

    Args:
        platform: the backend (see :class:`ArrayPlatform`).
        interval: seconds between two polls (:func:`poll_interval`).
        name: the polling thread's name.
    """

    #: Longest :meth:`close` waits for a poll under way to end (the thread is a daemon: it never blocks an exit).
    CLOSE_TIMEOUT = 5.0

    def __init__(self, platform: ArrayPlatform, interval: float, name: str) -> None:
        self.platform, self.interval, self.name = platform, interval, name
        self._lock = threading.Lock()
        self._submitted: dict[str, ArrayRun] = {}  # by job key: every run, for cancel and run()
        self._watched: dict[str, ArrayRun] = {}  # by job key: what the thread polls
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()

    def watch(self, run: ArrayRun) -> None:
        """Poll ``run`` from now on, starting the polling thread if none runs."""
        with self._lock:
            self._submitted[run.job_key] = run
            self._watched[run.job_key] = run
            if self._thread is None or not self._thread.is_alive():
                self._stop_event = threading.Event()  # the thread's own: close() stops only the running one
                self._thread = threading.Thread(target=self._loop, args=(self._stop_event,), name=self.name,
                                                daemon=True)
                self._thread.start()

    def run(self, key: str) -> ArrayRun | None:
        """The run submitted for Lithops job ``key`` (watched, ended or cancelled), or None."""
        with self._lock:
            return self._submitted.get(key)

    def watched(self) -> list[ArrayRun]:
        """The runs polled now."""
        with self._lock:
            return list(self._watched.values())

    def fail(self, run: ArrayRun, indexes: Iterable[int], reason: str) -> None:
        """Fail the calls of these indices of a watched run that have no status in storage, with the platform's
        ``reason`` (worded by :meth:`ArrayPlatform.index_failure`). Indices failed before, or that ``run`` does not
        have, are passed over, and so is a run no longer watched (cancelled, or forgotten by :meth:`close`). When
        storage cannot be read, the error passes and the indices are failed at a later call.
        """
        with self._lock:
            if self._watched.get(run.job_key) is not run:
                return
            todo = sorted({i for i in indexes if 0 <= i < len(run.groups)} - run.failed)
        if not todo:
            return
        storage, _ = self.platform.job_storage()
        missing = set(unwritten_calls(storage, run.executor_id, run.job_id, [c for i in todo for c in run.groups[i]]))
        with self._lock:
            run.failed.update(todo)
        for index in todo:
            error = WorkerDiedError(self.platform.index_failure(run, index, reason))
            for call_id in run.groups[index]:
                if call_id in missing:
                    run.report(failed_status(run.executor_id, run.job_id, call_id, error))

    def finish(self, run: ArrayRun) -> None:
        """Stop polling ``run`` (it ended)."""
        with self._lock:
            if self._watched.get(run.job_key) is run:
                del self._watched[run.job_key]

    def stop(self, run: ArrayRun, reason: str) -> None:
        """Stop polling ``run`` and stop it on the platform (best effort: its calls have failed already)."""
        self.finish(run)
        self._stop_run(run, reason, logging.DEBUG)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Stop the runs of these Lithops jobs on the platform, once each (best effort, a warning when it fails);
        they are no longer polled.
        """
        with self._lock:
            runs = [self._submitted[key] for key in job_keys if key in self._submitted]
            runs = [run for run in runs if not run.cancelled]
            for run in runs:
                run.cancelled = True
                self._watched.pop(run.job_key, None)
        for run in runs:
            self._stop_run(run, CANCELLED, logging.WARNING)

    def close(self) -> None:
        """Stop polling and forget the watched runs; waits for a poll under way at most :attr:`CLOSE_TIMEOUT`."""
        with self._lock:
            self._stop_event.set()
            thread, self._thread = self._thread, None
            self._watched.clear()
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.CLOSE_TIMEOUT)

    def _stop_run(self, run: ArrayRun, reason: str, level: int) -> None:
        try:
            self.platform.stop_run(run, reason)
        except Exception as exc:
            logger.log(level, "could not stop %s (%s) of %s: %s", run.name, reason, run.job_key, exc)

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            with self._lock:
                runs = list(self._watched.values())
                if not runs:
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return
            try:
                self.platform.poll_runs(runs)
            except Exception as exc:  # a failed poll is tried again at the next interval
                logger.debug("%s: a poll failed: %s", self.name, exc)
