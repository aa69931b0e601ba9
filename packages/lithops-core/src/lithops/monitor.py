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

from lithops.errors import BackendError, LithopsError, ProtocolMismatchError, SerializationError, WorkerDiedError
from lithops.futures import ResponseFuture
from lithops.job.job import JobRequest, job_key, job_prefix
from lithops.job.status import CallStatus, encode_exception
from lithops.local_state import save_call_log
from lithops.storage.utils import StorageNoSuchKeyError

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


class _Countdown:
    """Runs a callback once each of ``count`` futures has finished (each calls :meth:`tick` once)."""

    def __init__(self, count: int, callback: Callable[[], None], run: Callable[[Callable[[], None]], None]) -> None:
        self.remaining = count
        self.callback = callback
        self._run = run
        self._lock = threading.Lock()

    def tick(self, future: ResponseFuture) -> None:
        with self._lock:
            self.remaining -= 1
            last = self.remaining == 0
        if last:
            self._run(self.callback)


class _PolledJob:
    """The calls of one job whose statuses are read from storage."""

    def __init__(self, executor_id: str, job_id: str, call_ids: Iterable[str], execution_timeout: float,
                 since: float, storage: Any, bucket: str, lost_hint: str, backend: str = "",
                 start_timeout: float | None = None) -> None:
        self.executor_id = executor_id
        self.job_id = job_id
        self.job_key = job_key(executor_id, job_id)
        self.prefix = job_prefix(executor_id, job_id)
        self.execution_timeout = execution_timeout
        self.storage = storage
        self.bucket = bucket
        self.missing = set(call_ids)
        self.last_progress = since
        self.lost_hint = lost_hint
        self.backend = backend
        #: Calls with neither start marker nor status this long after the last progress, while none runs, fail
        #: (None: no bound; also when a status came without a start marker, from a worker that writes none).
        self.start_timeout = start_timeout
        self.started: set[str] = set()  # calls seen started (their marker listed)
        self.invoked = False  # the backend's invoke returned: only then may calls be taken for never started

    @classmethod
    def of_job(cls, job: JobRequest, storage: Any, bucket: str, backend: str = "",
               start_timeout: float | None = None) -> _PolledJob:
        return cls(job.executor_id, job.job_id, job.call_ids, job.execution_timeout, job.submitted, storage, bucket,
                   "their workers died (out of memory, killed) or could not write to storage. Check the "
                   "backend's logs; raise runtime_memory if needed.", backend, start_timeout)

    def note_started(self, keys: list[str]) -> None:
        """Record the calls whose start markers are listed in ``keys``; a newly started call is progress."""
        started = {k.rsplit("/", 2)[-2] for k in keys if k.endswith("/started")}
        if any(k.endswith("/status.json") and k.rsplit("/", 2)[-2] not in started for k in keys):
            self.start_timeout = None  # a worker that writes no start markers (or failed calls before starting)
            return
        fresh = (started & self.missing) - self.started
        if fresh:
            self.started |= fresh
            self.last_progress = time.time()

    @property
    def running(self) -> bool:
        """Whether a call of this job has started and not reported yet."""
        return bool(self.missing & self.started)

    def never_started(self, busy: bool, progress: float) -> list[str]:
        """The calls to fail as never started: all that are missing, once the bound has passed since
        ``progress`` (the latest progress of any job of the executor) and no call runs (``busy``: a call of
        another of its jobs does, which these may be queued behind).
        """
        if self.start_timeout is None or not self.invoked or not self.missing or busy or self.running:
            return []
        if time.time() <= max(self.last_progress, progress) + self.start_timeout:
            return []
        return sorted(self.missing)

    @property
    def deadline(self) -> float:
        return self.last_progress + self.execution_timeout + STATUS_GRACE_SEC


class JobMonitor:
    """Keeps the futures of one executor up to date.

    Args:
        executor_id: the executor whose futures this monitor updates.
        interval: seconds between storage polls.
        source: where copies of its futures pickled to other processes read their status (None: nowhere).
    """

    def __init__(self, executor_id: str, interval: float = 2.0, source: StorageStatusSource | None = None) -> None:
        self.executor_id = executor_id
        self.interval = interval
        self.source = source
        self._lock = threading.Lock()  # guards the dictionaries and sets below; never held while taking a future's
        self._futures: dict[tuple[str, str], ResponseFuture] = {}  # of the calls not finished yet
        self._polled: dict[str, _PolledJob] = {}
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._scheduler: ThreadPoolExecutor | None = None
        self.storage_requests = 0
        #: How many calls the executor's backend runs at once (the progress bar's estimate of running calls).
        self.max_workers: int | None = None
        #: The executor's compute backend, named in errors, and its :attr:`ComputeBackend.start_timeout`.
        self.backend = ""
        self.start_timeout: float | None = None
        #: Jobs with futures pickled (to be read elsewhere): their objects outlive the executor's automatic clean.
        self.exported_jobs: set[str] = set()
        #: Writes a call's status to storage for futures pickled before it finished (set for push backends,
        #: whose statuses are not in storage otherwise).
        self.publisher: Callable[[CallStatus], None] | None = None
        self._publish: set[tuple[str, str]] = set()  # (job id, call id) whose status goes to the publisher

    def register(self, futures: list[ResponseFuture]) -> None:
        """Route statuses of these futures' calls to them."""
        with self._lock:
            for f in futures:
                self._futures[(f.job_id, f.call_id)] = f

    def mark_invoked(self, futures: list[ResponseFuture]) -> None:
        """Record that these calls were handed to the backend: their job's clock of progress restarts, so time
        the backend's ``invoke`` took (booting machines, say) is not counted against its calls.
        """
        now = time.time()
        with self._lock:
            for key in {f.job_key for f in futures}:
                polled = self._polled.get(key)
                if polled is not None:
                    polled.last_progress = max(polled.last_progress, now)
                    polled.invoked = True
        for f in futures:
            f.set_running()

    def exported(self, future: ResponseFuture) -> StorageStatusSource | None:
        """``future`` is being pickled (its lock is held): keep its job's objects at close, and if it has not
        finished, have its status written to storage (push backends) so that the copy can read it there.
        Returns where the copy reads it.
        """
        with self._lock:
            self.exported_jobs.add(future.job_id)
            if self.publisher is not None and not future.finished:
                self._publish.add((future.job_id, future.call_id))
        return self.source

    def _must_publish(self, future: ResponseFuture) -> bool:
        """Whether the outcome of ``future``, which just finished, goes to the publisher (once)."""
        if not self._publish:
            return False
        key = (future.job_id, future.call_id)
        with self._lock:
            if key not in self._publish:
                return False
            self._publish.discard(key)
            return True

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
        with self._lock:
            polled = self._polled.get(status.job_key)
            if polled is not None:
                polled.missing.discard(status.call_id)
                if not polled.missing:
                    del self._polled[status.job_key]
            # The call's outcome is here: nothing looks its future up again (a repeated status is ignored).
            future = self._futures.pop((status.job_id, status.call_id), None)
        if future is None:
            return
        try:
            changed = future.set_status(status)
        except Exception as exc:  # an outcome this process cannot read: that call fails, nothing else
            changed = future.set_exception(SerializationError(
                f"the result of call {status.call_id} of job {status.job_key} cannot be read here: "
                f"{type(exc).__name__}: {exc}. Return values whose classes the client can import too."
            ))
        if changed and self._must_publish(future):
            self._published(status)

    def fail(self, futures: list[ResponseFuture], exc: BaseException) -> None:
        """Fail these calls with ``exc`` unless they already finished."""
        with self._lock:  # finished either way: their statuses, if they come, are ignored
            for f in futures:
                self._futures.pop((f.job_id, f.call_id), None)
        for f in futures:
            if f.set_exception(exc) and self._must_publish(f):
                self._published(CallStatus(f.executor_id, f.job_id, f.call_id, success=False,
                                           exception=encode_exception(exc), stats=dict(f.stats)))

    # -- dependent jobs ----------------------------------------------------------------------------------
    def after(self, upstream: list[ResponseFuture], callback: Callable[[], None]) -> None:
        """Run ``callback`` (in a helper thread) once every future of ``upstream`` has finished."""
        if not upstream:
            self._schedule(callback)
            return
        tick = _Countdown(len(upstream), callback, self._schedule).tick  # one bound method for all the futures
        for f in upstream:
            f.add_done_callback(tick)

    def _schedule(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if self._scheduler is None:
                self._scheduler = ThreadPoolExecutor(1, thread_name_prefix=f"lithops-{self.executor_id}-deps")
            scheduler = self._scheduler
        try:
            scheduler.submit(callback)
        except RuntimeError:  # the executor was closed; calls that finish afterwards still start dependents
            threading.Thread(target=callback, daemon=True).start()

    # -- storage polling ---------------------------------------------------------------------------------
    def watch_storage(self, job: JobRequest, storage: Any, bucket: str) -> None:
        """Poll storage for the statuses of ``job``'s calls."""
        self._watch(_PolledJob.of_job(job, storage, bucket, self.backend, self.start_timeout))

    def _watch(self, polled: _PolledJob) -> None:
        with self._lock:
            known = self._polled.get(polled.job_key)
            if known is not None:
                known.missing |= polled.missing
                return
            self._polled[polled.job_key] = polled
            self._stop.clear()  # an executor used again after close() polls again
            if self._poller is None:
                self._poller = threading.Thread(
                    target=self._poll_loop, name=f"lithops-{self.executor_id}-monitor", daemon=True
                )
                self._poller.start()

    def unwatch(self, job_key: str) -> None:
        """Stop polling a job (its invocation failed)."""
        with self._lock:
            self._polled.pop(job_key, None)

    def _poll_loop(self) -> None:
        with ThreadPoolExecutor(16, thread_name_prefix=f"lithops-{self.executor_id}-fetch") as pool:
            while True:
                with self._lock:
                    jobs = list(self._polled.values())
                    if self._stop.is_set() and not jobs:
                        self._poller = None  # closed, and nothing left to watch: a later job starts a new poller
                        break
                for polled in jobs:
                    try:
                        self._poll_job(polled, pool)
                    except Exception as exc:  # storage hiccup: log, retry next round
                        logger.warning("ExecutorID %s - status poll of %s failed: %s", self.executor_id,
                                       polled.job_key, exc)
                if self._stop.is_set():  # closed with jobs still watched: keep the pace
                    time.sleep(self.interval)
                else:
                    self._stop.wait(self.interval)

    def _poll_job(self, polled: _PolledJob, pool: ThreadPoolExecutor) -> None:
        keys = polled.storage.list_keys(polled.bucket, polled.prefix + "/")
        self.storage_requests += 1
        if polled.start_timeout is not None:
            polled.note_started(keys)
        new = [k for k in keys if k.endswith("/status.json") and k.rsplit("/", 2)[-2] in polled.missing]

        def fetch(key: str) -> CallStatus:
            try:
                status = CallStatus.from_json(polled.storage.get_object(polled.bucket, key))
            except ProtocolMismatchError as exc:
                return CallStatus(polled.executor_id, polled.job_id, key.rsplit("/", 2)[-2], success=False,
                                  exception=encode_exception(exc))
            status.stats["host_status_query_count"] = 1
            if status.output_key:
                try:
                    status.output = polled.storage.get_object(polled.bucket, status.output_key)
                except StorageNoSuchKeyError:  # gone for good: fail this call, not the whole job's polling
                    return CallStatus(polled.executor_id, polled.job_id, status.call_id, success=False,
                                      stats=status.stats, exception=encode_exception(LithopsError(
                                          f"call {status.call_id} of job {polled.job_key} finished, but its result "
                                          f"{polled.bucket}/{status.output_key} is missing from storage: something "
                                          f"deleted it (lithops clean, a lifecycle rule on the bucket) or the "
                                          f"storage lost it. Run the call again.")))
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
        with self._lock:  # report() changes the sets of missing calls under this lock
            others = [p for p in self._polled.values() if p is not polled]
            busy = any(p.running for p in others)
            progress = max((p.last_progress for p in others), default=0.0)
            never = polled.never_started(busy, progress)
        if never:
            with self._lock:
                lost = self._unfinished(polled.job_id, never)
            shown = ", ".join(never[:5]) + (", ..." if len(never) > 5 else "")
            self.fail(lost, BackendError(
                f"{len(never)} call(s) of job {polled.job_key} ({shown}) were never started by compute backend "
                f"'{polled.backend}': no worker took them within {polled.start_timeout:g} s of the executor's last "
                f"progress (the backend's start_timeout). Check the backend's logs, quotas and concurrency limits."
            ))
            polled.missing.clear()
        if polled.missing and time.time() > polled.deadline:
            with self._lock:
                lost = self._unfinished(polled.job_id, sorted(polled.missing))
            self.fail(lost, WorkerDiedError(
                f"no status from {len(lost)} call(s) of job {polled.job_key} within the execution timeout "
                f"({polled.execution_timeout:g} s) plus {STATUS_GRACE_SEC} s of the job's last progress: "
                f"{polled.lost_hint}"
            ))
            polled.missing.clear()
        if not polled.missing:
            with self._lock:
                self._polled.pop(polled.job_key, None)

    def _unfinished(self, job_id: str, call_ids: list[str]) -> list[ResponseFuture]:
        """The futures of these calls that have not finished (finished ones are no longer held; lock held)."""
        found = (self._futures.get((job_id, cid)) for cid in call_ids)
        return [f for f in found if f is not None]

    def close(self) -> None:
        """Stop the dependent-job thread; polling stops once every watched job has reported."""
        self._stop.set()
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None  # a later dependent job makes a new one
        if scheduler is not None:
            scheduler.shutdown(wait=False)


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


class StorageStatusSource:
    """Where copies of an executor's futures, pickled to other processes, read their calls' statuses: the
    executor's storage. Pickled with the futures; its config comes without the keys its schema declares secret.
    """

    def __init__(self, storage_config: dict[str, Any]) -> None:
        self.storage_config = storage_config

    def attach(self, futures: list[ResponseFuture], interval: float) -> None:
        """Have these copies updated by an adopting monitor that polls this storage every ``interval`` s."""
        adopt(futures, interval, self.storage_config)


_adopters_lock = threading.Lock()


def adopt(futures: list[ResponseFuture], interval: float, storage_config: dict[str, Any]) -> None:
    """Have futures copied from another process learn their outcome from storage, where the process that
    submitted the calls has them written (docs/user-guide.md#pickled-futures).
    """
    import json

    where = json.dumps(storage_config, sort_keys=True, default=str)
    groups: dict[tuple[str, str], list[ResponseFuture]] = {}
    for f in futures:
        groups.setdefault((f"{f.executor_id} {where}", f.job_id), []).append(f)
    for (key, job_id), group in groups.items():
        with _adopters_lock:
            if key not in _ADOPTERS:
                _ADOPTERS[key] = (JobMonitor(group[0].executor_id, interval, StorageStatusSource(storage_config)),
                                  _storage_of(storage_config))
            monitor, storage = _ADOPTERS[key]
            monitor.interval = min(monitor.interval, interval)
        monitor.register(group)
        for f in group:
            f.attach(monitor)
        monitor._watch(_PolledJob(
            group[0].executor_id, job_id, [f.call_id for f in group], group[0].execution_timeout or 1800,
            time.time(), storage.storage_handler, storage.bucket,
            "the process that submitted them ended before they finished, or their workers died. Keep that "
            "process running until its calls finish.",
        ))
