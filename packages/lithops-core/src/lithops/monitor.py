"""Routes call statuses to futures, polls storage for storage-transport jobs, and starts dependent jobs.

Push backends report statuses directly (:meth:`JobMonitor.report`). For storage backends a poller thread lists
each active job's prefix once per ``lithops.monitoring_interval`` (one listing per poll, whatever the number of
calls) and reads only the statuses it has not seen.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from lithops.errors import JobCancelledError, ProtocolMismatchError, SerializationError, WorkerDiedError
from lithops.futures import CHANGED, ResponseFuture
from lithops.job.job import JobRequest, job_prefix
from lithops.job.status import CallStatus, encode_exception
from lithops.local_state import save_call_log

logger = logging.getLogger(__name__)

#: Seconds past a call's execution timeout after which a storage-transport call with no status is failed. The
#: clock starts at the job's submission and restarts whenever one of its calls reports, so calls queued behind
#: a concurrency limit are not mistaken for dead ones.
STATUS_GRACE_SEC = 60


@contextmanager
def sigint_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back while the block runs, so that a cancellation is never left half done.

    Only the main thread can do this (elsewhere the block just runs). A Ctrl-C that came meanwhile is delivered
    once the block ends, unless a KeyboardInterrupt is already being handled: it then adds nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
        if held and not isinstance(sys.exc_info()[1], KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)


class _Deferred:
    """A callback that runs once all of its upstream futures have finished."""

    def __init__(self, upstream: list[ResponseFuture], callback: Callable[[], None]) -> None:
        self.remaining = len(upstream)
        self.callback = callback


class _PolledJob:
    """The calls of one job whose statuses are read from storage."""

    def __init__(self, executor_id: str, job_id: str, call_ids: Iterable[str], execution_timeout: float,
                 since: float, storage: Any, bucket: str, lost_hint: str) -> None:
        self.executor_id = executor_id
        self.job_id = job_id
        self.job_key = f"{executor_id}-{job_id}"
        self.prefix = job_prefix(executor_id, job_id)
        self.execution_timeout = execution_timeout
        self.storage = storage
        self.bucket = bucket
        self.missing = set(call_ids)
        self.last_progress = since
        self.lost_hint = lost_hint

    @classmethod
    def of_job(cls, job: JobRequest, storage: Any, bucket: str) -> _PolledJob:
        return cls(job.executor_id, job.job_id, job.call_ids, job.execution_timeout, job.submitted, storage, bucket,
                   "their workers died (out of memory, killed) or could not write to storage. Check the "
                   "backend's logs; raise runtime_memory if needed.")

    @property
    def deadline(self) -> float:
        return self.last_progress + self.execution_timeout + STATUS_GRACE_SEC


class JobMonitor:
    """Keeps the futures of one executor up to date.

    Args:
        executor_id: the executor whose futures this monitor updates.
        interval: seconds between storage polls.
    """

    def __init__(self, executor_id: str, interval: float = 2.0) -> None:
        self.executor_id = executor_id
        self.interval = interval
        self._futures: dict[tuple[str, str], ResponseFuture] = {}
        self._polled: dict[str, _PolledJob] = {}
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._scheduler: ThreadPoolExecutor | None = None
        self.storage_requests = 0
        #: How many calls the executor's backend runs at once (the progress bar's estimate of running calls).
        self.max_workers: int | None = None
        self._job_watches: dict[str, _Deferred] = {}  # job id -> what runs when its last call finishes
        #: Jobs with futures pickled (to be read elsewhere): their objects outlive the executor's automatic clean.
        self.exported_jobs: set[str] = set()
        #: Writes a call's status to storage for futures pickled before it finished (set for push backends,
        #: whose statuses are not in storage otherwise).
        self.publisher: Callable[[CallStatus], None] | None = None
        self._publish: set[tuple[str, str]] = set()  # (job id, call id) whose status goes to the publisher

    def register(self, futures: list[ResponseFuture]) -> None:
        """Route statuses of these futures' calls to them."""
        with CHANGED:
            for f in futures:
                self._futures[(f.job_id, f.call_id)] = f

    def mark_invoked(self, futures: list[ResponseFuture]) -> None:
        """Record that these calls were handed to the backend."""
        with CHANGED:
            for f in futures:
                f._set_invoked()
            CHANGED.notify_all()

    def exported(self, future: ResponseFuture) -> None:
        """``future`` is being pickled: keep its job's objects at close, and if it has not finished, have its
        status written to storage (push backends) so that the copy can read it there. Called with CHANGED held.
        """
        self.exported_jobs.add(future.job_id)
        if self.publisher is not None and not future.finished:
            self._publish.add((future.job_id, future.call_id))

    def _published(self, status: CallStatus) -> None:
        try:
            self.publisher(status)  # type: ignore[misc]
        except Exception as exc:  # the local future is fine; only the pickled copies cannot learn the outcome
            logger.warning("ExecutorID %s - could not write the status of call %s of %s to storage for pickled "
                           "copies of its future: %s", self.executor_id, status.call_id, status.job_key, exc)

    def report(self, status: CallStatus) -> None:
        """Record a call's outcome (thread-safe; backends call this)."""
        if status.logs:  # output that came inline (or from storage): keep it where future.logs() finds it
            save_call_log(status.job_key, status.call_id, status.logs)
            status.logs = None
        ready: list[_Deferred] = []
        publish = False
        with CHANGED:
            polled = self._polled.get(status.job_key)
            if polled is not None:
                polled.missing.discard(status.call_id)
                if not polled.missing:
                    del self._polled[status.job_key]
            future = self._futures.get((status.job_id, status.call_id))
            if future is None or future.finished:
                return
            try:
                future._set_status(status)
            except Exception as exc:  # an outcome this process cannot read: that call fails, nothing else
                future._set_exception(SerializationError(
                    f"the result of call {status.call_id} of job {status.job_key} cannot be read here: "
                    f"{type(exc).__name__}: {exc}. Return values whose classes the client can import too."
                ))
            ready = self._finished(future)
            CHANGED.notify_all()
            if self._publish:
                publish = (status.job_id, status.call_id) in self._publish
                self._publish.discard((status.job_id, status.call_id))
        if publish:
            self._published(status)
        self._run_deferred(ready)

    def fail(self, futures: list[ResponseFuture], exc: BaseException) -> None:
        """Fail these calls with ``exc`` unless they already finished."""
        ready: list[_Deferred] = []
        publish: list[ResponseFuture] = []
        with CHANGED:
            for f in futures:
                if not f.finished:
                    f._set_exception(exc)
                    ready.extend(self._finished(f))
                    if (f.job_id, f.call_id) in self._publish:
                        self._publish.discard((f.job_id, f.call_id))
                        publish.append(f)
            CHANGED.notify_all()
        for f in publish:
            self._published(CallStatus(f.executor_id, f.job_id, f.call_id, success=False,
                                       exception=encode_exception(exc), stats=dict(f.stats)))
        self._run_deferred(ready)

    def _finished(self, future: ResponseFuture) -> list[_Deferred]:
        ready = []
        watch = self._job_watches.get(future.job_id)
        if watch is not None:
            watch.remaining -= 1
            if watch.remaining == 0:
                del self._job_watches[future.job_id]
                ready.append(watch)
        for dep in future._dependents or ():
            dep.remaining -= 1
            if dep.remaining == 0:
                ready.append(dep)
        future._dependents = None
        return ready

    # -- dependent jobs ----------------------------------------------------------------------------------
    def after(self, upstream: list[ResponseFuture], callback: Callable[[], None]) -> None:
        """Run ``callback`` (in a helper thread) once every future of ``upstream`` has finished."""
        dep = _Deferred(upstream, callback)
        with CHANGED:
            for f in upstream:
                if f.finished:
                    dep.remaining -= 1
                else:
                    if f._dependents is None:
                        f._dependents = []
                    f._dependents.append(dep)
            ready = [dep] if dep.remaining == 0 else []
        self._run_deferred(ready)

    def when_job_done(self, futures: list[ResponseFuture], callback: Callable[[], None]) -> None:
        """Run ``callback`` (in a helper thread) once every future of one job has finished.

        Like :meth:`after` for all the futures of a job, but with one counter for the job instead of
        bookkeeping on each future.
        """
        if not futures:
            return
        with CHANGED:
            watch = _Deferred([], callback)
            watch.remaining = sum(1 for f in futures if not f.finished)
            if watch.remaining:
                self._job_watches[futures[0].job_id] = watch
                return
        self._run_deferred([watch])

    def _run_deferred(self, ready: list[_Deferred]) -> None:
        if not ready:
            return
        if self._scheduler is None:
            self._scheduler = ThreadPoolExecutor(1, thread_name_prefix=f"lithops-{self.executor_id}-deps")
        for dep in ready:
            try:
                self._scheduler.submit(dep.callback)
            except RuntimeError:  # the executor was closed; calls that finish afterwards still start dependents
                threading.Thread(target=dep.callback, daemon=True).start()

    # -- storage polling ---------------------------------------------------------------------------------
    def watch_storage(self, job: JobRequest, storage: Any, bucket: str) -> None:
        """Poll storage for the statuses of ``job``'s calls."""
        self._watch(_PolledJob.of_job(job, storage, bucket))

    def _watch(self, polled: _PolledJob) -> None:
        with CHANGED:
            known = self._polled.get(polled.job_key)
            if known is not None:
                known.missing |= polled.missing
                return
            self._polled[polled.job_key] = polled
            if self._poller is None:
                self._poller = threading.Thread(
                    target=self._poll_loop, name=f"lithops-{self.executor_id}-monitor", daemon=True
                )
                self._poller.start()

    def unwatch(self, job_key: str) -> None:
        """Stop polling a job (its invocation failed)."""
        with CHANGED:
            self._polled.pop(job_key, None)

    def _poll_loop(self) -> None:
        with ThreadPoolExecutor(16, thread_name_prefix=f"lithops-{self.executor_id}-fetch") as pool:
            while True:
                with CHANGED:
                    jobs = list(self._polled.values())
                if self._stop.is_set() and not jobs:
                    break  # closed, and nothing left to watch
                for polled in jobs:
                    try:
                        self._poll_job(polled, pool)
                    except Exception as exc:  # storage hiccup: log, retry next round
                        logger.warning("ExecutorID %s - status poll of %s failed: %s", self.executor_id,
                                       polled.job_key, exc)
                self._stop.wait(self.interval)

    def _poll_job(self, polled: _PolledJob, pool: ThreadPoolExecutor) -> None:
        keys = polled.storage.list_keys(polled.bucket, polled.prefix + "/")
        self.storage_requests += 1
        new = [k for k in keys if k.endswith("/status.json") and k.rsplit("/", 2)[-2] in polled.missing]

        def fetch(key: str) -> CallStatus:
            try:
                status = CallStatus.from_json(polled.storage.get_object(polled.bucket, key))
            except ProtocolMismatchError as exc:
                return CallStatus(polled.executor_id, polled.job_id, key.rsplit("/", 2)[-2], success=False,
                                  exception=encode_exception(exc))
            status.stats["host_status_query_count"] = 1
            if status.output_key:
                status.output = polled.storage.get_object(polled.bucket, status.output_key)
                status.stats["host_result_query_count"] = 1
            if status.logs_key:
                try:
                    status.logs = polled.storage.get_object(polled.bucket, status.logs_key)
                except Exception as exc:  # the call's outcome matters more than its output
                    status.logs = f"[lithops: the call's output could not be read from storage: {exc}]\n".encode()
            return status

        for status in pool.map(fetch, new):
            self.storage_requests += 1 + (1 if status.output_key else 0) + (1 if status.logs_key else 0)
            polled.last_progress = time.time()
            self.report(status)
        if polled.missing and time.time() > polled.deadline:
            lost = [self._futures[(polled.job_id, cid)] for cid in sorted(polled.missing)]
            self.fail(lost, WorkerDiedError(
                f"no status from {len(lost)} call(s) of job {polled.job_key} within the execution timeout "
                f"({polled.execution_timeout:g} s) plus {STATUS_GRACE_SEC} s of the job's last progress: "
                f"{polled.lost_hint}"
            ))
            polled.missing.clear()
        if not polled.missing:
            with CHANGED:
                self._polled.pop(polled.job_key, None)

    def close(self) -> None:
        """Stop the dependent-job thread; polling stops once every watched job has reported."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)


#: Monitors of futures copied (unpickled) from other processes, and the storage each reads: one per executor
#: and storage.
_ADOPTERS: dict[str, tuple[JobMonitor, Any]] = {}


def _storage_of(carried: dict[str, Any]) -> Any:
    """A storage client for a pickled future's storage config, which comes without the keys its schema declares
    secret: those are taken from this process's own config of the same storage backend, if it has one.
    """
    from lithops.config import load_storage_config
    from lithops.errors import LithopsError
    from lithops.storage.storage import Storage

    name = carried["backend"]
    try:
        local = load_storage_config(None, name).get(name) or {}
    except LithopsError:  # no usable local config for that backend: the carried keys must do
        local = {}
    return Storage(storage_config={**carried, name: {**local, **(carried.get(name) or {})}})


def adopt(futures: list[ResponseFuture], interval: float) -> None:
    """Have futures copied from another process learn their outcome from storage, where the process that
    submitted the calls has them written (docs/user-guide.md#pickled-futures).

    Raises:
        JobCancelledError: a future carries no storage to read from (it was not made by an executor).
    """
    import json

    groups: dict[tuple[str, str], list[ResponseFuture]] = {}
    carried: dict[str, dict[str, Any]] = {}  # adopter key -> the storage config its futures carry
    for f in futures:
        if f._storage_config is None:
            raise JobCancelledError(
                f"call {f.call_id} of job {f.job_key} is not finished and its future is not attached to an "
                f"executor or a storage to read its status from. Read it from the executor that made it."
            )
        where = json.dumps(f._storage_config, sort_keys=True, default=str)
        groups.setdefault((f"{f.executor_id} {where}", f.job_id), []).append(f)
        carried[f"{f.executor_id} {where}"] = f._storage_config
    for (key, job_id), group in groups.items():
        if key not in _ADOPTERS:
            _ADOPTERS.setdefault(key, (JobMonitor(group[0].executor_id, interval), _storage_of(carried[key])))
        monitor, storage = _ADOPTERS[key]
        with CHANGED:
            monitor.interval = min(monitor.interval, interval)
            monitor.register(group)
            for f in group:
                f._monitor = monitor
        monitor._watch(_PolledJob(
            group[0].executor_id, job_id, [f.call_id for f in group], group[0].execution_timeout or 1800,
            time.time(), storage.storage_handler, storage.bucket,
            "the process that submitted them ended before they finished, or their workers died. Keep that "
            "process running until its calls finish.",
        ))
