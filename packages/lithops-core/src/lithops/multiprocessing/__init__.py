"""A drop-in for the standard library's ``multiprocessing`` that runs on any Lithops backend.

``from lithops.multiprocessing import Pool`` (or ``import lithops.multiprocessing as multiprocessing``) runs
code written for ``multiprocessing`` unchanged: Pool tasks and Processes run as calls of the configured
backend, and shared state (queues, locks, values, manager objects, pipes ...) lives in a store: Redis when the
config has a ``redis`` section, else, on localhost, a small server in this process (no set-up). See
docs/multiprocessing.md for what is supported.
"""

from __future__ import annotations

from multiprocessing import AuthenticationError, BufferTooShort, ProcessError, TimeoutError, get_logger, log_to_stderr

from lithops.multiprocessing import config
from lithops.multiprocessing.connection import Pipe
from lithops.multiprocessing.context import (
    DefaultContext,
    allow_connection_pickling,
    get_all_start_methods,
    get_context,
    get_runtime,
    get_start_method,
    set_executable,
    set_forkserver_preload,
    set_start_method,
)
from lithops.multiprocessing.managers import Manager, SyncManager
from lithops.multiprocessing.pool import Pool
from lithops.multiprocessing.process import Process, active_children, current_process, parent_process
from lithops.multiprocessing.queues import JoinableQueue, Queue, SimpleQueue
from lithops.multiprocessing.sharedctypes import Array, RawArray, RawValue, Value
from lithops.multiprocessing.synchronize import Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore

__all__ = [
    "Array",
    "AuthenticationError",
    "Barrier",
    "BoundedSemaphore",
    "BufferTooShort",
    "Condition",
    "DefaultContext",
    "Event",
    "JoinableQueue",
    "Lock",
    "Manager",
    "Pipe",
    "Pool",
    "Process",
    "ProcessError",
    "Queue",
    "RLock",
    "RawArray",
    "RawValue",
    "Semaphore",
    "SimpleQueue",
    "SyncManager",
    "TimeoutError",
    "Value",
    "active_children",
    "allow_connection_pickling",
    "config",
    "cpu_count",
    "current_process",
    "freeze_support",
    "get_all_start_methods",
    "get_context",
    "get_logger",
    "get_start_method",
    "log_to_stderr",
    "parent_process",
    "set_executable",
    "set_forkserver_preload",
    "set_start_method",
]


def cpu_count() -> int:
    """Worker processes a ``Pool()`` gets: the CPUs (or configured workers) on localhost, else the backend's
    ``max_workers``.
    """
    return get_runtime().cpu_count()


def freeze_support() -> None:
    """Accepted for compatibility (nothing to do)."""

