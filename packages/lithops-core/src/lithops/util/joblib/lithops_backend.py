"""The ``"lithops"`` joblib backend: each joblib batch is one Lithops call, through
:mod:`lithops.concurrent.futures`.

Large arguments (a training set passed to every task of a grid search) would make each call's input too big
and send the same bytes again and again, so an argument of ``SHARE_BYTES`` or more is stored once per
``Parallel`` call, replaced in the tasks by a reference, and read back by each worker process once (the last
few are kept in memory there). The stored copies are deleted when the ``Parallel`` call ends.
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from typing import Any

from joblib._parallel_backends import AutoBatchingMixin, ParallelBackendBase

from lithops.concurrent.futures import FunctionExecutor as _Executor
from lithops.concurrent.futures import Future
from lithops.storage.utils import CloudObject

#: Arguments whose pickle is this big or bigger go through storage.
SHARE_BYTES = 256 * 1024
#: How many stored arguments a worker process keeps in memory.
_KEEP_FETCHED = 8
_FETCHED: OrderedDict[str, Any] = OrderedDict()
_INLINE = (int, float, complex, bool, str, bytes, type(None))


class _Stored:
    """Stands in a task for a large argument stored as ``ref`` in the storage ``storage_config`` describes."""

    def __init__(self, ref: CloudObject, storage_config: dict[str, Any]) -> None:
        self.ref = ref
        self.storage_config = storage_config


def _fetch(value: Any) -> Any:
    """The argument itself (read from storage once per worker process), for a stand-in; else ``value``."""
    if not isinstance(value, _Stored):
        return value
    name = str(value.ref)
    if name in _FETCHED:
        _FETCHED.move_to_end(name)
        return _FETCHED[name]
    from lithops.storage import Storage

    data = Storage(storage_config=value.storage_config).get_cloudobject(value.ref)
    _FETCHED[name] = obj = pickle.loads(data)  # type: ignore[arg-type]
    while len(_FETCHED) > _KEEP_FETCHED:
        _FETCHED.popitem(last=False)
    return obj


def _run_batch(batch: Any) -> Any:
    """Run a joblib batch in a worker, with its stored arguments read back."""
    batch.items = [(func, tuple(_fetch(a) for a in args), {k: _fetch(v) for k, v in kwargs.items()})
                   for func, args, kwargs in batch.items]
    return batch()


class LithopsBackend(AutoBatchingMixin, ParallelBackendBase):  # type: ignore[misc]
    """Runs joblib's batches of tasks as Lithops calls; batches grow while calls are quick (joblib's
    auto-batching), so the per-call overhead of the backend stays small next to the work.

    Args:
        nesting_level, inner_max_num_threads: joblib's backend arguments.
        lithops_args: arguments of the Lithops executor (``config``, ``backend``, ``runtime_memory``, ...).
    """

    supports_retrieve_callback = True
    supports_timeout = True
    supports_sharedmem = False
    uses_threads = False

    def __init__(self, nesting_level: int | None = None, inner_max_num_threads: int | None = None,
                 lithops_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads, **kwargs)
        self.lithops_args = dict(lithops_args or {})
        self._executor: _Executor | None = None
        self._stored: dict[int, tuple[Any, _Stored]] = {}  # id(argument) -> (argument, its stand-in)

    def _lithops(self) -> _Executor:
        if self._executor is None:
            self._executor = _Executor(**self.lithops_args)
        return self._executor

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        """``n_jobs`` as given; a negative value counts back from the backend's ``max_workers``
        (``-1``: all of them).
        """
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            return 1
        if n_jobs < 0:
            return max(self._max_workers() + 1 + n_jobs, 1)
        return n_jobs

    def _max_workers(self) -> int:
        config = self._lithops().lithops_executor.config
        section = config.get(config["lithops"]["backend"]) or {}
        return int(section.get("max_workers") or os.cpu_count() or 1)

    def configure(self, n_jobs: int = 1, parallel: Any = None, prefer: str | None = None,
                  require: str | None = None, **backend_kwargs: Any) -> int:
        """Prepare for one ``Parallel`` call; returns the number of calls that may run at once.

        (``require="sharedmem"`` never gets here: joblib picks its threading backend for it, since this one
        does not share memory with the caller.)
        """
        self.parallel = parallel
        return self.effective_n_jobs(n_jobs)

    def _share(self, value: Any) -> Any:
        """``value``, or a stand-in for it once it is stored when its pickle is ``SHARE_BYTES`` or more."""
        if isinstance(value, _INLINE) and not (isinstance(value, (str, bytes)) and len(value) >= SHARE_BYTES):
            return value
        known = self._stored.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        nbytes = getattr(value, "nbytes", None)  # arrays tell their size without being pickled
        if isinstance(nbytes, int) and nbytes < SHARE_BYTES:
            return value
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # left to the call's own serializer, which says what is wrong
            return value
        if len(data) < SHARE_BYTES:
            return value
        storage = self._lithops().lithops_executor.storage
        stand_in = _Stored(storage.put_cloudobject(data), storage.storage_config)
        self._stored[id(value)] = (value, stand_in)  # holding the argument keeps its id from being reused
        return stand_in

    def submit(self, func: Any, callback: Any = None) -> Future:
        """Run one batch of tasks as a Lithops call, its large arguments stored once."""
        items = getattr(func, "items", None)
        if items is not None:
            func.items = [(f, tuple(self._share(a) for a in args), {k: self._share(v) for k, v in kwargs.items()})
                          for f, args, kwargs in items]
            future = self._lithops().submit(_run_batch, func)
        else:
            future = self._lithops().submit(func)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def retrieve_result_callback(self, out: Future) -> Any:
        """The batch's results (or its exception)."""
        return out.result()

    def terminate(self) -> None:
        """Close the Lithops executor once its calls are done, deleting the stored arguments (a later
        ``Parallel`` call opens a new one).
        """
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            if self._stored:
                storage = self._executor.lithops_executor.storage
                storage.delete_cloudobjects([stand_in.ref for _, stand_in in self._stored.values()])
            self._executor = None
        self._stored.clear()
        self.reset_batch_stats()

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """After a task failed: stop waiting for the other calls (they cannot be recalled) and drop them."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._stored.clear()  # the calls still running may read them: `lithops clean` removes them
        self.reset_batch_stats()
