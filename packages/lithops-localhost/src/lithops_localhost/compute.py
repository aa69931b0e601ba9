"""The ``localhost`` compute backend: calls run in warm worker processes on this machine.

Executors with the same interpreter and pool size share one pool, so making a second ``FunctionExecutor`` costs
nothing; the pool stops when the last executor using it is closed (or garbage collected) and its calls are done.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_localhost.plugin import COMPUTE_CONFIG
from lithops_localhost.pool import LocalPool, ensure_python, worker_environment

_pools: dict[tuple[str, int, str], tuple[LocalPool, int]] = {}
_pools_lock = threading.Lock()


def _acquire(python: str, size: int) -> tuple[tuple[str, int, str], LocalPool]:
    key = (python, size, os.getcwd())
    with _pools_lock:
        pool, refs = _pools.get(key, (None, 0))
        if pool is None:
            pool = LocalPool(size, python, worker_environment(python), os.getcwd())
        _pools[key] = (pool, refs + 1)
    return key, pool


def _release(key: tuple[str, int, str]) -> None:
    with _pools_lock:
        pool, refs = _pools[key]
        if refs > 1:
            _pools[key] = (pool, refs - 1)
            return
        del _pools[key]
    pool.close(wait_calls=True)


class LocalhostBackend(ComputeBackend):
    """Runs calls in a pool of ``worker_processes`` warm processes (default: one per CPU)."""

    transport: ClassVar[str] = "push"
    ships_modules: ClassVar[bool] = False
    config_schema: ClassVar[Mapping[str, ConfigKey]] = COMPUTE_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self.python = ensure_python(self.config["runtime"] or sys.executable)
        # worker_processes, else max_workers, else one per CPU (the schema's None means "not set")
        self.size = int(self.config["worker_processes"] or self.config["max_workers"] or os.cpu_count() or 1)
        self._key: tuple[str, int, str] | None = None
        self._pool: LocalPool | None = None

    @property
    def max_workers(self) -> int:
        """Number of worker processes."""
        return self.size

    def _get_pool(self) -> LocalPool:
        if self._pool is None:
            self._key, self._pool = _acquire(self.python, self.size)
        return self._pool

    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Queue the job's calls in the warm pool."""
        self._get_pool().submit(job, report)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Drop queued calls of these jobs and kill workers running them."""
        if self._pool is not None:
            self._pool.cancel(set(job_keys))

    def close(self) -> None:
        """Release this executor's hold on the pool."""
        if self._key is not None:
            key, self._key, self._pool = self._key, None, None
            _release(key)
