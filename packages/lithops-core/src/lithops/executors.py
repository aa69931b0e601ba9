"""``FunctionExecutor`` and its mode-specific forms: the public entry point of Lithops."""

from __future__ import annotations

import atexit
import itertools
import logging
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lithops.backends.compute import DEFAULT_STATUS_INTERVAL, ComputeBackend
from lithops.config import default_config, extract_storage_config, load_config, setup_logger
from lithops.constants import LOCALHOST, SERVERLESS, STANDALONE
from lithops.data_inputs import DataInputs
from lithops.errors import JobCancelledError
from lithops.futures import FuturesList, ResponseFuture, outputs
from lithops.job.job import cancelled_key, job_prefix
from lithops.job.partitioner import data_param
from lithops.monitor import JobMonitor, StorageStatusSource, sigint_held
from lithops.plots import job_summary
from lithops.plugins.manager import get_registry
from lithops.storage.chunks import ObjectChunk
from lithops.storage.job_storage import JobStorage
from lithops.submit import JobSubmitter, chained_futures
from lithops.transport import transport_for
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
        backend_cls: type[ComputeBackend] = registry.load_class("compute", self.backend)
        self.storage_config = extract_storage_config(self.config)
        storage_backend_path = registry.storage_backend(self.storage_config["backend"]).backend
        self.executor_id = create_executor_id()
        interval = lithops_cfg.get("monitoring_interval") or backend_cls.status_interval or DEFAULT_STATUS_INTERVAL
        self.monitor = JobMonitor(self.executor_id, float(interval),
                                  source=StorageStatusSource(_portable(self.storage_config)))
        self._storage = JobStorage(self.storage_config, storage_backend_path)
        self._transport = transport_for(self.backend, backend_cls.transport, self._storage, self.monitor)
        self.compute: ComputeBackend = backend_cls(self.config[self.backend], self.config, storage=self._storage)
        _live_backends.add(self.compute)
        weakref.finalize(self, self.compute.close)  # an executor dropped without close() releases its workers
        self.monitor.max_workers = self.compute.max_workers
        self.monitor.backend, self.monitor.start_timeout = self.backend, backend_cls.start_timeout
        self._inputs = DataInputs(self.config, self._storage, storage_backend_path,
                                  local_files=not self.compute.ships_modules)
        self._submitter = JobSubmitter(self.executor_id, self.config, self.backend, self.compute, self.monitor,
                                       self._transport, storage_backend_path, self._inputs.data_storages)
        #: Every future of this executor, in submission order.
        self.futures: list[ResponseFuture] = self._submitter.futures
        self.last_call: str | None = None
        self._returned = 0  # self.futures[:_returned] were returned by get_result() without fs
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
        if self.config["lithops"].get("data_cleaner"):
            try:
                self.clean(on_exit=True)
            except Exception as exc:  # storage unreachable: closing must still release the workers
                logger.warning("ExecutorID %s - could not delete temporary job data (%s); run "
                               "'lithops clean' later", self.executor_id, exc)
        self.compute.close()
        self.monitor.close()

    @property
    def storage(self) -> Any:
        """The executor's :class:`lithops.Storage` client (created on first use)."""
        return self._storage.get()

    # -- submitting ----------------------------------------------------------------------------------------
    def _wrap(self, futures: Iterable[ResponseFuture]) -> FuturesList:
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
        job_id = self._submitter.new_job_id("A")
        self.last_call = "call_async"
        options = dict(extra_env=extra_env, runtime_memory=runtime_memory, execution_timeout=timeout,
                       include_modules=include_modules, exclude_modules=exclude_modules)
        upstream = chained_futures(data) if isinstance(data, (ResponseFuture, list)) else None
        if upstream is not None:
            single = isinstance(data, ResponseFuture)
            return self._submitter.submit_after(
                upstream, job_id, 1,
                lambda: [upstream[0].result() if single else [f.result() for f in upstream]], func, **options
            )[0]
        return self._submitter.submit(job_id, func, [data], **options)[0]  # type: ignore[no-any-return]

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
        job_id = self._submitter.new_job_id("M")
        self.last_call = "map"
        options = dict(chunksize=chunksize, extra_args=extra_args, extra_env=extra_env,
                       runtime_memory=runtime_memory, execution_timeout=timeout,
                       include_modules=include_modules, exclude_modules=exclude_modules)
        if isinstance(map_iterdata, Iterator):  # read a generator once; it may yield futures
            map_iterdata = list(map_iterdata)
        upstream = chained_futures(map_iterdata)
        if upstream is not None:
            return self._wrap(self._submitter.submit_after(
                upstream, job_id, len(upstream), lambda: [f.result() for f in upstream], map_function, **options))
        items = self._inputs.expand(map_function, map_iterdata, obj_chunk_size, obj_chunk_number, obj_newline)
        return self._wrap(self._submitter.submit(job_id, map_function, items, **options))

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
        if chained_futures(map_iterdata) is not None:  # futures as input (FuturesList.map_reduce): map when done
            map_futures = self.map(map_function, map_iterdata, chunksize=chunksize, extra_args=extra_args,
                                   extra_env=extra_env, runtime_memory=map_runtime_memory, timeout=timeout,
                                   include_modules=include_modules, exclude_modules=exclude_modules)
            items: list[Any] = [None] * len(map_futures)
        else:
            items = self._inputs.expand(map_function, map_iterdata, obj_chunk_size, obj_chunk_number, obj_newline)
            map_futures = self._submitter.submit(
                self._submitter.new_job_id("M"), map_function, items, chunksize=chunksize, extra_args=extra_args,
                extra_env=extra_env, runtime_memory=map_runtime_memory, execution_timeout=timeout,
                include_modules=include_modules, exclude_modules=exclude_modules)
        self.last_call = "map_reduce"
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

        reduce_futures = self._submitter.submit_after(
            upstream, self._submitter.new_job_id("R"), max(1, len(groups)), reduce_input, reduce_function,
            check_data_limit=False, extra_args=extra_args_reduce, extra_env=extra_env,
            runtime_memory=reduce_runtime_memory, execution_timeout=timeout, include_modules=include_modules,
            exclude_modules=exclude_modules,
        )
        return self._wrap(upstream + list(reduce_futures))

    # -- waiting -------------------------------------------------------------------------------------------
    def _cancel_pending(self, futures: Iterable[ResponseFuture] | None = None) -> None:
        with sigint_held():  # a second Ctrl-C must not leave some futures pending for ever
            pending = [f for f in (futures if futures is not None else self.futures) if not f.finished]
            if not pending:
                return
            self.monitor.fail(pending, JobCancelledError(
                f"cancelled by the user: {len(pending)} call(s) of executor {self.executor_id} did not finish."
            ))
            self.compute.cancel_jobs({f.job_key for f in pending})
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
            done, not_done = wait(futures, throw_except=throw_except, return_when=return_when,
                                  download_results=download_results, timeout=timeout, wait_dur_sec=wait_dur_sec,
                                  show_progressbar=show_progressbar, futures_from_executor_wait=fs is None)
        except KeyboardInterrupt:
            self._cancel_pending()
            raise
        if clean_jobs and return_when == ALL_COMPLETED:
            self.clean(fs=futures, on_exit=True)
        return self._wrap(done), self._wrap(not_done)

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
        end = len(self.futures)
        futures = self.futures[self._returned:end] if fs is None else as_future_list(fs)
        done, _ = self.wait(futures, throw_except=throw_except, download_results=True, timeout=timeout,
                            wait_dur_sec=wait_dur_sec, show_progressbar=show_progressbar)
        result = [f.result(throw_except=throw_except) for f in outputs(done)]
        if fs is None:
            self._returned = max(self._returned, end)  # the wait returned, so all of them finished
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
        return job_summary(self.executor_id, self.futures, self._submitter.jobs, cloud_objects_n, dst)

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
        jobs = self._transport.stored_jobs({f.job_id for f in futures}, exported) - self._cleaned_jobs
        if jobs:
            jobs -= {f.job_id for f in self.futures if not f.finished}  # a running job still needs its data
        if on_exit and exported & jobs:
            logger.info("ExecutorID %s - keeping the objects of job(s) %s, whose futures were pickled; "
                        "delete them with fexec.clean() or 'lithops clean'", self.executor_id,
                        ", ".join(sorted(exported & jobs)))
            jobs -= exported
        if jobs:
            storage = self.storage
            for job_id in sorted(jobs):
                marker = cancelled_key(self.executor_id, job_id)  # kept: workers still running must see it
                keys = [k for k in storage.list_keys(storage.bucket, job_prefix(self.executor_id, job_id) + "/")
                        if k != marker]
                if keys:
                    storage.delete_objects(storage.bucket, keys)
                self._cleaned_jobs.add(job_id)
        if cs and clean_cloudobjects:
            self.storage.delete_cloudobjects(cs)


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
