"""Routes call statuses to futures, polls storage for storage-transport jobs, and starts dependent jobs.

Push backends report statuses directly (:meth:`JobMonitor.report`). For storage backends a poller thread lists
each active job's prefix once per ``lithops.monitoring_interval`` (one listing per poll, whatever the number of
calls) and reads only the statuses it has not seen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lithops.errors import ProtocolMismatchError, WorkerDiedError
from lithops.futures import CHANGED, ResponseFuture
from lithops.job.job import JobRequest
from lithops.job.status import CallStatus, encode_exception
from lithops.local_state import save_call_log

logger = logging.getLogger(__name__)

#: Seconds past a call's execution timeout after which a storage-transport call with no status is failed. The
#: clock starts at the job's submission and restarts whenever one of its calls reports, so calls queued behind
#: a concurrency limit are not mistaken for dead ones.
STATUS_GRACE_SEC = 60


class _Deferred:
    """A callback that runs once all of its upstream futures have finished."""

    def __init__(self, upstream: list[ResponseFuture], callback: Callable[[], None]) -> None:
        self.remaining = len(upstream)
        self.callback = callback


class _PolledJob:
    def __init__(self, job: JobRequest, storage: Any, bucket: str) -> None:
        self.job = job
        self.storage = storage
        self.bucket = bucket
        self.missing = set(job.call_ids)
        self.last_progress = job.submitted

    @property
    def deadline(self) -> float:
        return self.last_progress + self.job.execution_timeout + STATUS_GRACE_SEC


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

    def report(self, status: CallStatus) -> None:
        """Record a call's outcome (thread-safe; backends call this)."""
        if status.logs:  # output that came inline (or from storage): keep it where future.logs() finds it
            save_call_log(status.job_key, status.call_id, status.logs)
            status.logs = None
        ready: list[_Deferred] = []
        with CHANGED:
            polled = self._polled.get(status.job_key)
            if polled is not None:
                polled.missing.discard(status.call_id)
                if not polled.missing:
                    del self._polled[status.job_key]
            future = self._futures.get((status.job_id, status.call_id))
            if future is None or future.finished:
                return
            future._set_status(status)
            ready = self._finished(future)
            CHANGED.notify_all()
        self._run_deferred(ready)

    def fail(self, futures: list[ResponseFuture], exc: BaseException) -> None:
        """Fail these calls with ``exc`` unless they already finished."""
        ready: list[_Deferred] = []
        with CHANGED:
            for f in futures:
                if not f.finished:
                    f._set_exception(exc)
                    ready.extend(self._finished(f))
            CHANGED.notify_all()
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
        with CHANGED:
            self._polled[job.job_key] = _PolledJob(job, storage, bucket)
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
                                       polled.job.job_key, exc)
                self._stop.wait(self.interval)

    def _poll_job(self, polled: _PolledJob, pool: ThreadPoolExecutor) -> None:
        job = polled.job
        keys = polled.storage.list_keys(polled.bucket, job.prefix + "/")
        self.storage_requests += 1
        new = [k for k in keys if k.endswith("/status.json") and k.rsplit("/", 2)[-2] in polled.missing]

        def fetch(key: str) -> CallStatus:
            try:
                status = CallStatus.from_json(polled.storage.get_object(polled.bucket, key))
            except ProtocolMismatchError as exc:
                return CallStatus(job.executor_id, job.job_id, key.rsplit("/", 2)[-2], success=False,
                                  exception=encode_exception(exc))
            if status.output_key:
                status.output = polled.storage.get_object(polled.bucket, status.output_key)
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
            lost = [self._futures[(job.job_id, cid)] for cid in sorted(polled.missing)]
            self.fail(lost, WorkerDiedError(
                f"no status from {len(lost)} call(s) of job {job.job_key} within the execution timeout "
                f"({job.execution_timeout:g} s) plus {STATUS_GRACE_SEC} s of the job's last progress: their "
                f"workers died (out of memory, killed) or could not write to storage. Check the backend's logs; "
                f"raise runtime_memory if needed."
            ))
            polled.missing.clear()
        if not polled.missing:
            with CHANGED:
                self._polled.pop(job.job_key, None)

    def close(self) -> None:
        """Stop the dependent-job thread; polling stops once every watched job has reported."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
