"""``FunctionExecutor`` and its mode-specific forms: the public entry point of Lithops."""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lithops.backends.compute import ComputeBackend
from lithops.config import default_config, extract_storage_config, load_config, setup_logger, worker_config
from lithops.constants import LOCALHOST, SERVERLESS, STANDALONE
from lithops.errors import BackendError, JobCancelledError
from lithops.futures import FuturesList, ResponseFuture
from lithops.job.builder import create_job, function_name
from lithops.job.job import JobRequest, call_id_of, job_prefix
from lithops.job.partitioner import Partitioner, data_param, wants_partitioning
from lithops.job.status import CallStatus
from lithops.local_state import record_job_finished, record_job_submitted
from lithops.monitor import JobMonitor, sigint_held
from lithops.plugins.manager import get_registry
from lithops.storage.chunks import ObjectChunk
from lithops.wait import ALL_COMPLETED, THREADPOOL_SIZE, as_future_list, wait

logger = logging.getLogger(__name__)

_SESSION_ID = uuid.uuid4().hex[:10]
_executor_counter = itertools.count()
_live_backends: weakref.WeakSet[ComputeBackend] = weakref.WeakSet()


def create_executor_id() -> str:
    """A new executor id, unique in this process and very likely across processes: ``<session>-<n>``."""
    return f"{_SESSION_ID}-{next(_executor_counter)}"


@atexit.register
def _close_backends() -> None:
    for backend in list(_live_backends):
        try:
            backend.close()
        except Exception:  # interpreter is exiting; nothing useful to do
            pass


def _chained_futures(iterdata: Any) -> list[ResponseFuture] | None:
    """The futures of earlier calls given as the whole input of a new job (a future, or a list or tuple of
    them), else None. Futures mixed with plain data are refused.
    """
    if isinstance(iterdata, ResponseFuture):
        return [iterdata]
    if not isinstance(iterdata, (list, tuple)):
        return None
    futures = [x for x in iterdata if isinstance(x, ResponseFuture)]
    if not futures:
        return None
    if len(futures) != len(iterdata):
        raise ValueError(
            f"the input mixes {len(futures)} futures of earlier calls with {len(iterdata) - len(futures)} plain "
            f"values. Chaining takes futures as the whole input of the next job: get their results first "
            f"(fexec.get_result(futures)) and build the input from those."
        )
    return futures


def _consume(futures: list[ResponseFuture]) -> None:
    """Mark futures whose results feed another job: ``get_result`` no longer returns them (as in Lithops)."""
    for f in futures:
        f._produce_output = False


def _as_iterdata(map_iterdata: Any) -> list[Any]:
    if isinstance(map_iterdata, (str, bytes, dict)) or not isinstance(map_iterdata, Iterable):
        raise TypeError(
            f"map_iterdata must be a list (or other iterable) with one input per call, got "
            f"{type(map_iterdata).__name__}. To run a function once, use call_async(func, data)."
        )
    return list(map_iterdata)


def _portable(storage_config: dict[str, Any]) -> dict[str, Any]:
    """The storage config that futures carry when pickled: without the keys its schema declares secret."""
    name = storage_config["backend"]
    secret = {k for k, key in get_registry().storage_backend(name).config.items() if key.secret}
    section = {k: v for k, v in (storage_config.get(name) or {}).items() if k not in secret}
    return {**storage_config, name: section}


class FunctionExecutor:
    """Runs functions on the configured compute backend and tracks their futures.

    Args:
        mode: ``localhost``, ``serverless`` or ``standalone`` (deprecated: the backend implies it).
        config: a config dict; discovered (``LITHOPS_CONFIG_FILE``, ``~/.lithops/config``, ...) when None.
        config_file: path of a config file to read instead of discovering one (when ``config`` is None).
        backend: compute backend name; overrides ``lithops.backend``.
        storage: storage backend name; overrides ``lithops.storage``.
        monitoring: ``storage`` or ``rabbitmq``.
        log_level: level of the ``lithops`` logger (e.g. ``'DEBUG'``); ``None`` leaves logging alone.
        runtime: runtime name for the backend (container image, Python interpreter, ...).
        runtime_memory: MiB of memory for each worker.
        max_workers: how many calls may run at once.
        worker_processes: processes per worker.
        remote_invoker: accepted for compatibility.
        **kwargs: further keys of the backend's config section.

    The positional parameters are those of Lithops 3.x, in its order; the others are keywords.
    """

    def __init__(
        self,
        mode: str | None = None,
        config: dict[str, Any] | None = None,
        config_file: str | None = None,
        backend: str | None = None,
        storage: str | None = None,
        monitoring: str | None = None,
        log_level: str | bool | None = False,
        *,
        runtime: str | None = None,
        runtime_memory: int | None = None,
        max_workers: int | None = None,
        worker_processes: int | None = None,
        remote_invoker: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if config is None and config_file is not None:
            config = load_config(config_file, log=False)
        lithops_ow: dict[str, Any] = {}
        if mode is not None:
            lithops_ow["mode"] = mode
        if backend is not None:
            lithops_ow["backend"] = backend
        if storage is not None:
            lithops_ow["storage"] = storage
        if monitoring is not None:
            lithops_ow["monitoring"] = monitoring
        if log_level and log_level is not True:  # True: the config's level
            lithops_ow["log_level"] = log_level
        section_ow = {k: v for k, v in kwargs.items() if v is not None}
        # remote_invoker goes to the backend's section like the others: a backend without that key warns
        for key, value in (("runtime", runtime), ("runtime_memory", runtime_memory), ("max_workers", max_workers),
                           ("worker_processes", worker_processes), ("remote_invoker", remote_invoker)):
            if value is not None:
                section_ow[key] = value
        self.config = default_config(config, {"lithops": lithops_ow}, backend_overwrite=section_ow,
                                     overwrite_source="FunctionExecutor argument")
        if log_level is not None:
            setup_logger(self.config)
        lithops_cfg = self.config["lithops"]
        self.backend: str = lithops_cfg["backend"]
        self.mode: str = lithops_cfg["mode"]
        registry = get_registry()
        backend_cls = registry.load_class("compute", self.backend)
        self.compute: ComputeBackend = backend_cls(self.config[self.backend], self.config)
        _live_backends.add(self.compute)
        weakref.finalize(self, self.compute.close)  # an executor dropped without close() releases its workers
        self.storage_config = extract_storage_config(self.config)
        self._storage_backend_path = registry.storage_backend(self.storage_config["backend"]).backend
        self._data_storages: set[str] = set()  # other storage backends that data-map inputs come from
        self._internal_storage: Any = None
        self.executor_id = create_executor_id()
        self.monitor = JobMonitor(self.executor_id, float(lithops_cfg.get("monitoring_interval") or 2))
        self.monitor.max_workers = self.compute.max_workers
        if self.compute.transport != "storage":  # statuses of pickled futures must reach storage to be read
            self.monitor.publisher = self._publish_status
        self._future_storage_config = _portable(self.storage_config)
        self.futures: list[ResponseFuture] = []
        self._jobs: dict[str, dict[str, Any]] = {}  # job id -> function name, memory, submission time
        self.last_call: str | None = None
        self._job_counter = itertools.count()
        self._cleaned_jobs: set[str] = set()
        logger.info("%s executor created with ID %s (backend %s, storage %s)", self.mode.capitalize(),
                    self.executor_id, self.backend, self.storage_config["backend"])

    # -- context manager ---------------------------------------------------------------------------------
    def __enter__(self) -> FunctionExecutor:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._cancel_pending()
        self.close()

    def close(self) -> None:
        """Release the backend's workers once running calls finish; with ``lithops.data_cleaner`` (the
        default) also delete the finished jobs' temporary objects from storage.
        """
        if self.config["lithops"].get("data_cleaner") and self.compute.transport == "storage":
            try:
                self.clean(on_exit=True)
            except Exception as exc:  # storage unreachable: closing must still release the workers
                logger.warning("ExecutorID %s - could not delete temporary job data (%s); run "
                               "'lithops clean' later", self.executor_id, exc)
        self.compute.close()
        self.monitor.close()

    # -- storage -------------------------------------------------------------------------------------------
    @property
    def storage(self) -> Any:
        """The executor's :class:`lithops.Storage` client (created on first use)."""
        if self._internal_storage is None:
            from lithops.storage.storage import Storage

            self._internal_storage = Storage(storage_config=self.storage_config)
        return self._internal_storage

    # -- submitting ----------------------------------------------------------------------------------------
    def _new_job_id(self, kind: str) -> str:
        return f"{kind}{next(self._job_counter):03d}"

    def _build(self, job_id: str, func: Callable[..., Any], iterdata: list[Any],
               **options: Any) -> tuple[JobRequest, dict[str, Any]]:
        """The job, and the stats of its making (``host_job_*``) for its futures."""
        # the request carries the effective memory: the call's own, else the backend section's
        options["runtime_memory"] = self._runtime_memory(options)
        start = time.time()
        job = create_job(
            executor_id=self.executor_id,
            job_id=job_id,
            func=func,
            iterdata=iterdata,
            config=worker_config(self.config, self._data_storages),  # only the sections workers need
            storage_backend=self._storage_backend_path,
            ships_modules=self.compute.ships_modules,
            **options,
        )
        stats = {"host_job_create_tstamp": start, "host_job_serialize_time": time.time() - start,
                 "func_module_size_bytes": len(job.function), "host_submit_tstamp": job.submitted}
        return job, stats

    def _runtime_memory(self, options: dict[str, Any]) -> Any:
        return options.get("runtime_memory") or self.compute.config.get("runtime_memory")

    def _make_futures(self, job_id: str, n: int, func: Callable[..., Any],
                      options: dict[str, Any]) -> list[ResponseFuture]:
        timeout = options.get("execution_timeout")
        attributes = dict(
            function_name=function_name(func), backend=self.backend, runtime_name=self.compute.config.get("runtime"),
            runtime_memory=self._runtime_memory(options), storage_config=self._future_storage_config,
            execution_timeout=timeout if timeout is not None else self.config["lithops"].get("execution_timeout"),
        )
        futures = [ResponseFuture(self.executor_id, job_id, call_id_of(i), self.monitor, **attributes)
                   for i in range(n)]
        self.monitor.register(futures)
        self.futures.extend(futures)
        return futures

    def _publish_status(self, status: CallStatus) -> None:
        """Write a call's status to storage, as storage-transport workers do, for pickled copies of its future."""
        from lithops.worker.handler import write_status

        write_status(self.storage.storage_handler, self.storage.bucket, status)

    def _upload(self, job: JobRequest) -> tuple[float, float]:
        """Upload the function and the call data; return the seconds each took."""
        storage = self.storage
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

    def _invoke(self, job: JobRequest, futures: list[ResponseFuture], stats: dict[str, Any]) -> None:
        if not futures:
            return
        try:
            func_time = data_time = 0.0
            if self.compute.transport == "storage":
                func_time, data_time = self._upload(job)
            stats = {**stats, "host_func_upload_time": func_time, "host_data_upload_time": data_time,
                     "host_job_created_time": time.time() - stats["host_job_create_tstamp"]}
            for future, data in zip(futures, job.call_data, strict=False):
                future.stats.update(stats, func_data_size_bytes=len(data))
            self.compute.invoke(job, self.monitor.report)
        except Exception as exc:
            self.monitor.unwatch(job.job_key)
            error = exc if isinstance(exc, BackendError) else BackendError(
                f"backend '{self.backend}' could not start job {job.job_key}: {type(exc).__name__}: {exc}"
            )
            self.monitor.fail(futures, error)
            raise error from exc
        self.monitor.mark_invoked(futures)
        self._record(job, futures)
        logger.debug("ExecutorID %s | JobID %s - %d calls submitted", self.executor_id, job.job_id, len(futures))

    def _record(self, job: JobRequest, futures: list[ResponseFuture]) -> None:
        """Remember a submitted job for job_summary() and plot(), and in this machine's job log."""
        self._jobs[job.job_id] = {"function": job.function_name, "runtime_memory": job.runtime_memory,
                                  "submitted": job.submitted}
        record_job_submitted(job.job_key, job.function_name, len(futures), self.backend,
                             self.storage_config["backend"], job.submitted)

        def finished() -> None:
            failed = sum(1 for f in futures if f.error)
            record_job_finished(job.job_key, len(futures) - failed, failed)

        self.monitor.when_job_done(futures, finished)

    def _submit(self, job_id: str, func: Callable[..., Any], iterdata: list[Any], **options: Any) -> FuturesList:
        job, stats = self._build(job_id, func, iterdata, **options)
        futures = self._make_futures(job_id, job.total_calls, func, options)
        self._invoke(job, futures, stats)
        return FuturesList(futures, executor=self)

    def _submit_after(
        self,
        upstream: list[ResponseFuture],
        job_id: str,
        n_calls: int,
        make_iterdata: Callable[[], list[Any]],
        func: Callable[..., Any],
        **options: Any,
    ) -> FuturesList:
        """Submit a job whose input is the results of ``upstream`` once they finish; return its futures now."""
        futures = self._make_futures(job_id, n_calls, func, options)

        def start() -> None:
            try:
                job, stats = self._build(job_id, func, make_iterdata(), **options)
                self._invoke(job, futures, stats)
            except BaseException as exc:
                self.monitor.fail(futures, exc)

        self.monitor.after(upstream, start)
        return FuturesList(futures, executor=self)

    def call_async(
        self,
        func: Callable[..., Any],
        data: Any,
        extra_env: dict[str, str] | None = None,
        runtime_memory: int | None = None,
        timeout: float | None = None,
        include_modules: list[str] | None = [],  # noqa: B006 - Lithops' signature; [] means "detect"
        exclude_modules: list[str] | None = [],  # noqa: B006
    ) -> ResponseFuture:
        """Run ``func`` once on ``data`` (tuple: positional args, dict: keyword args, else the one argument)."""
        job_id = self._new_job_id("A")
        self.last_call = "call_async"
        options = dict(extra_env=extra_env, runtime_memory=runtime_memory, execution_timeout=timeout,
                       include_modules=include_modules, exclude_modules=exclude_modules)
        upstream = _chained_futures(data) if isinstance(data, (ResponseFuture, list)) else None
        if upstream is not None:
            single = isinstance(data, ResponseFuture)
            _consume(upstream)
            return self._submit_after(
                upstream, job_id, 1,
                lambda: [upstream[0].result() if single else [f.result() for f in upstream]], func, **options
            )[0]
        return self._submit(job_id, func, [data], **options)[0]  # type: ignore[no-any-return]

    def map(
        self,
        map_function: Callable[..., Any],
        map_iterdata: Iterable[Any],
        chunksize: int | None = None,
        extra_args: Any = None,
        extra_env: dict[str, str] | None = None,
        runtime_memory: int | None = None,
        obj_chunk_size: int | None = None,
        obj_chunk_number: int | None = None,
        obj_newline: str | None = "\n",
        timeout: float | None = None,
        include_modules: list[str] | None = [],  # noqa: B006
        exclude_modules: list[str] | None = [],  # noqa: B006
    ) -> FuturesList:
        """Run ``map_function`` once per element of ``map_iterdata``; return one future per call.

        ``map_iterdata`` may also be futures (or a FuturesList): the job then starts when they finish, and each
        call receives one of their results.
        """
        job_id = self._new_job_id("M")
        self.last_call = "map"
        options = dict(chunksize=chunksize, extra_args=extra_args, extra_env=extra_env,
                       runtime_memory=runtime_memory, execution_timeout=timeout,
                       include_modules=include_modules, exclude_modules=exclude_modules)
        if isinstance(map_iterdata, Iterator):  # read a generator once; it may yield futures
            map_iterdata = list(map_iterdata)
        upstream = _chained_futures(map_iterdata)
        if upstream is not None:
            _consume(upstream)
            return self._submit_after(upstream, job_id, len(upstream), lambda: [f.result() for f in upstream],
                                      map_function, **options)
        items = self._data_inputs(map_function, map_iterdata, obj_chunk_size, obj_chunk_number, obj_newline)
        return self._submit(job_id, map_function, items, **options)

    def _open_storage(self, backend: str) -> tuple[Any, str]:
        """A Storage client for a data-map input, and the backend's class path for the workers."""
        if backend == self.storage_config["backend"]:
            return self.storage, self._storage_backend_path
        from lithops.storage.storage import Storage

        storage = Storage(config=self.config, backend=backend)
        self.config[backend] = storage.storage_config[backend]  # workers read the validated section
        self._data_storages.add(backend)
        return storage, get_registry().storage_backend(backend).backend

    def _data_inputs(self, func: Callable[..., Any], map_iterdata: Any, chunk_size: int | None,
                     chunk_number: int | None, newline: str | None) -> list[Any]:
        """The iterdata as a list; data-map inputs (``obj``/``url`` functions) split into one call per chunk."""
        param = data_param(func)
        if param is not None and isinstance(map_iterdata, str):
            map_iterdata = [map_iterdata]
        items = _as_iterdata(map_iterdata)
        if param is None or not wants_partitioning(items, param):
            return items
        partitioner = Partitioner(self._open_storage, self.storage_config["backend"],
                                  local_files=not self.compute.ships_modules, chunk_size=chunk_size,
                                  chunk_number=chunk_number, newline=newline)
        return partitioner.expand(items, param)

    def map_reduce(
        self,
        map_function: Callable[..., Any],
        map_iterdata: Iterable[Any],
        reduce_function: Callable[..., Any],
        chunksize: int | None = None,
        extra_args: Any = None,
        extra_args_reduce: Any = None,
        extra_env: dict[str, str] | None = None,
        map_runtime_memory: int | None = None,
        reduce_runtime_memory: int | None = None,
        timeout: float | None = None,
        obj_chunk_size: int | None = None,
        obj_chunk_number: int | None = None,
        obj_newline: str | None = "\n",
        obj_reduce_by_key: bool = False,
        spawn_reducer: int = 20,
        include_modules: list[str] | None = [],  # noqa: B006
        exclude_modules: list[str] | None = [],  # noqa: B006
    ) -> FuturesList:
        """Map, then run ``reduce_function`` once on the list of all map results (in call order).

        With ``obj_reduce_by_key`` and a data map, one reducer runs per object, on the results of its chunks.
        Returns the map futures followed by the reducers'; ``get_result`` returns only the reducers' results.
        Reducers are submitted when the last map call finishes (``spawn_reducer`` is accepted for
        compatibility).
        """
        if isinstance(map_iterdata, Iterator):
            map_iterdata = list(map_iterdata)
        if _chained_futures(map_iterdata) is not None:  # futures as input (FuturesList.map_reduce): map when done
            map_futures = self.map(map_function, map_iterdata, chunksize=chunksize, extra_args=extra_args,
                                   extra_env=extra_env, runtime_memory=map_runtime_memory, timeout=timeout,
                                   include_modules=include_modules, exclude_modules=exclude_modules)
            items: list[Any] = [None] * len(map_futures)
        else:
            items = self._data_inputs(map_function, map_iterdata, obj_chunk_size, obj_chunk_number, obj_newline)
            map_futures = self._submit(self._new_job_id("M"), map_function, items, chunksize=chunksize,
                                       extra_args=extra_args, extra_env=extra_env,
                                       runtime_memory=map_runtime_memory, execution_timeout=timeout,
                                       include_modules=include_modules, exclude_modules=exclude_modules)
        self.last_call = "map_reduce"
        for f in map_futures:
            f._produce_output = False
        upstream = list(map_futures)
        # With obj_reduce_by_key, one group per object of each input, in input then listing order (an object named
        # twice is reduced twice, as in Lithops): its chunks are consecutive and the first is part 1.
        groups: list[list[ResponseFuture]] = []
        param = data_param(map_function)
        for item, future in zip(items, upstream, strict=True):
            chunk = item.get(param) if obj_reduce_by_key and param and isinstance(item, dict) else None
            if not groups or (isinstance(chunk, ObjectChunk) and chunk.part == 1):
                groups.append([])
            groups[-1].append(future)

        def reduce_input() -> list[Any]:
            return [([f.result() for f in group],) for group in groups]

        reduce_futures = self._submit_after(
            upstream, self._new_job_id("R"), max(1, len(groups)), reduce_input, reduce_function,
            check_data_limit=False, extra_args=extra_args_reduce, extra_env=extra_env,
            runtime_memory=reduce_runtime_memory, execution_timeout=timeout, include_modules=include_modules,
            exclude_modules=exclude_modules,
        )
        return FuturesList(upstream + list(reduce_futures), executor=self)

    # -- waiting -------------------------------------------------------------------------------------------
    def _cancel_pending(self, futures: Iterable[ResponseFuture] | None = None) -> None:
        with sigint_held():  # a second Ctrl-C must not leave some futures pending for ever
            pending = [f for f in (futures if futures is not None else self.futures) if not f.finished]
            if not pending:
                return
            self.monitor.fail(pending, JobCancelledError(
                f"cancelled by the user: {len(pending)} call(s) of executor {self.executor_id} did not finish."
            ))
            self.compute.cancel({f.job_key for f in pending})
        logger.info("ExecutorID %s - cancelled %d unfinished call(s)", self.executor_id, len(pending))

    def wait(
        self,
        fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
        throw_except: bool = True,
        return_when: Any = ALL_COMPLETED,
        download_results: bool = False,
        timeout: float | None = None,
        threadpool_size: int = THREADPOOL_SIZE,
        wait_dur_sec: float | None = None,
        show_progressbar: bool = True,
        clean_jobs: bool | None = None,
    ) -> tuple[FuturesList, FuturesList]:
        """Wait for futures (all of this executor's when ``fs`` is None); return ``(done, not_done)``.

        ``clean_jobs=True`` deletes the temporary objects of the waited jobs once an ``ALL_COMPLETED`` wait
        ends (as :meth:`clean` does); None or False leave them to the clean at :meth:`close` (``data_cleaner``).
        Ctrl-C while waiting cancels this executor's unfinished calls and re-raises KeyboardInterrupt. The other
        parameters are those of :func:`lithops.wait.wait`.
        """
        futures = self.futures if fs is None else as_future_list(fs)
        try:
            result = wait(futures, throw_except=throw_except, return_when=return_when,
                          download_results=download_results, timeout=timeout, wait_dur_sec=wait_dur_sec,
                          show_progressbar=show_progressbar, futures_from_executor_wait=fs is None)
        except KeyboardInterrupt:
            self._cancel_pending()
            raise
        if clean_jobs and return_when == ALL_COMPLETED:
            self.clean(fs=futures, on_exit=True)
        return result

    def get_result(
        self,
        fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
        throw_except: bool = True,
        timeout: float | None = None,
        threadpool_size: int = THREADPOOL_SIZE,
        wait_dur_sec: float | None = None,
        show_progressbar: bool = True,
    ) -> Any:
        """Wait for futures and return their results.

        With ``fs=None`` this returns the results not returned before by this executor. A single result is
        returned bare (not in a list) unless the last call was ``map``. Futures consumed as the input of
        another job are skipped (their results went to that job).
        """
        futures = [f for f in self.futures if not f._read] if fs is None else as_future_list(fs)
        done, _ = self.wait(futures, throw_except=throw_except, download_results=True, timeout=timeout,
                            wait_dur_sec=wait_dur_sec, show_progressbar=show_progressbar)
        result = []
        for f in done:
            if f.futures or not f._produce_output:
                continue
            result.append(f.result(throw_except=throw_except))
        if fs is None:
            for f in done:
                f._read = True
        if len(result) == 1 and self.last_call != "map":
            return result[0]
        return result

    # -- housekeeping --------------------------------------------------------------------------------------
    def job_summary(self, cloud_objects_n: int = 0, dst: str | None = None) -> list[dict[str, Any]]:
        """One row per job: function, calls, finished, failed, memory, the summed and the average function time
        in seconds.

        With ``dst``, the rows are also written to that CSV file, followed by a ``Summary`` row of totals whose
        ``cloud_objects`` column is ``cloud_objects_n`` (the number of storage objects the jobs used, as you
        count them).
        """
        rows: dict[str, dict[str, Any]] = {}
        timed: dict[str, int] = {}  # job id -> calls that report a function time
        for f in self.futures:
            info = self._jobs.get(f.job_id, {})
            row = rows.setdefault(f.job_id, {"executor_id": self.executor_id, "job_id": f.job_id,
                                             "function": info.get("function", ""), "calls": 0, "finished": 0,
                                             "failed": 0, "runtime_memory": info.get("runtime_memory"),
                                             "func_exec_time": 0.0, "avg_func_exec_time": 0.0})
            row["calls"] += 1
            row["finished"] += int(f.finished)
            row["failed"] += int(f.error)
            if "worker_func_exec_time" in f.stats:
                row["func_exec_time"] += float(f.stats["worker_func_exec_time"])
                timed[f.job_id] = timed.get(f.job_id, 0) + 1
        for job_id, row in rows.items():
            row["avg_func_exec_time"] = row["func_exec_time"] / timed[job_id] if timed.get(job_id) else 0.0
        if dst is not None:
            _write_summary_csv(dst, list(rows.values()), cloud_objects_n, sum(timed.values()))
        return list(rows.values())

    def plot(self, fs: ResponseFuture | Iterable[ResponseFuture] | None = None, dst: str | None = None,
             figsize: tuple[float, float] = (10, 6)) -> list[str]:
        """Draw the execution timeline and histogram of finished calls as PNG images; return their paths.

        ``dst`` is a path prefix: the images are ``<dst>_timeline.png`` and ``<dst>_histogram.png`` (default:
        ``./plots/<unix time>_...``). Needs matplotlib: ``pip install 'lithops-core[plot]'``.
        """
        from lithops.plots import create_histogram, create_timeline, plottable

        futures = plottable(self.futures if fs is None else fs)
        if not futures:
            logger.info("ExecutorID %s - no finished calls to plot", self.executor_id)
            return []
        logger.info("ExecutorID %s - creating execution plots", self.executor_id)
        return [create_timeline(futures, dst, figsize), create_histogram(futures, dst, figsize)]

    def clean(
        self,
        fs: Iterable[ResponseFuture] | None = None,
        cs: list[Any] | None = None,
        clean_cloudobjects: bool = True,
        clean_fn: bool = False,
        force: bool = False,
        on_exit: bool = False,
    ) -> None:
        """Delete the temporary objects of jobs whose calls have all finished; ``force=True`` first cancels
        unfinished calls.

        ``cs`` lists CloudObjects to delete as well. ``on_exit`` (the automatic clean when the executor closes)
        keeps the objects of jobs whose futures were pickled, for the copies to read.
        """
        futures = list(self.futures if fs is None else fs)
        if force:
            self._cancel_pending(futures)
        exported = self.monitor.exported_jobs
        if self.compute.transport == "storage" or exported:
            storage = self.storage
            running = {f.job_id for f in self.futures if not f.finished}
            jobs = {f.job_id for f in futures} - running - self._cleaned_jobs
            if self.compute.transport != "storage":
                jobs &= exported  # push backends store only the statuses of pickled futures
            if on_exit and exported & jobs:
                logger.info("ExecutorID %s - keeping the objects of job(s) %s, whose futures were pickled; "
                            "delete them with fexec.clean() or 'lithops clean'", self.executor_id,
                            ", ".join(sorted(exported & jobs)))
                jobs -= exported
            for job_id in sorted(jobs):
                keys = storage.list_keys(storage.bucket, job_prefix(self.executor_id, job_id) + "/")
                if keys:
                    storage.delete_objects(storage.bucket, keys)
                self._cleaned_jobs.add(job_id)  # a running job is skipped: it still needs its data
        if cs and clean_cloudobjects:
            self.storage.delete_cloudobjects(cs)


def _write_summary_csv(dst: str, rows: list[dict[str, Any]], cloud_objects_n: int, timed: int) -> None:
    import csv

    columns = ["executor_id", "job_id", "function", "calls", "finished", "failed", "runtime_memory",
               "func_exec_time", "avg_func_exec_time", "cloud_objects"]
    total_time = sum(r["func_exec_time"] for r in rows)
    summary = {"executor_id": rows[0]["executor_id"] if rows else "", "job_id": "Summary",
               "calls": sum(r["calls"] for r in rows), "finished": sum(r["finished"] for r in rows),
               "failed": sum(r["failed"] for r in rows), "func_exec_time": total_time,
               "avg_func_exec_time": total_time / timed if timed else 0.0, "cloud_objects": cloud_objects_n}
    folder = os.path.dirname(os.path.abspath(os.path.expanduser(dst)))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.expanduser(dst), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow(summary)


class LocalhostExecutor(FunctionExecutor):
    """A FunctionExecutor on this machine (the ``localhost`` backend).

    The parameters are those of :class:`FunctionExecutor`, in Lithops 3.x's order; ``**kwargs`` (``runtime``,
    ``max_workers``, ``worker_processes``, other keys of the ``localhost`` section) as there.
    """

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        config_file: str | None = None,
        storage: str | None = None,
        monitoring: str | None = None,
        log_level: str | bool | None = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(mode=LOCALHOST, config=config, config_file=config_file, storage=storage,
                         monitoring=monitoring, log_level=log_level, **kwargs)


class _ModeExecutor(FunctionExecutor):
    """A FunctionExecutor whose mode is fixed by the subclass."""

    mode_name: str

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        config_file: str | None = None,
        backend: str | None = None,
        storage: str | None = None,
        monitoring: str | None = None,
        log_level: str | bool | None = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(mode=self.mode_name, config=config, config_file=config_file, backend=backend,
                         storage=storage, monitoring=monitoring, log_level=log_level, **kwargs)


class ServerlessExecutor(_ModeExecutor):
    """A FunctionExecutor on the configured serverless backend (``aws_lambda`` when none is set).

    The parameters are those of :class:`FunctionExecutor`, in Lithops 3.x's order; ``**kwargs`` (``runtime``,
    ``runtime_memory``, ``max_workers``, ``worker_processes``, ``remote_invoker``, other keys of the backend's
    section) as there.
    """

    mode_name = SERVERLESS


class StandaloneExecutor(_ModeExecutor):
    """A FunctionExecutor on the configured standalone backend (``aws_ec2`` when none is set).

    The parameters are those of :class:`FunctionExecutor`, in Lithops 3.x's order; ``**kwargs`` (``runtime``,
    ``max_workers``, ``worker_processes``, other keys of the backend's section) as there.
    """

    mode_name = STANDALONE
