"""What ``lithops.multiprocessing`` runs on: the resolved Lithops config, its store and its executors.

A :class:`Runtime` exists per effective configuration (the ``LITHOPS_CONFIG`` parameter, else the discovered
config), so changing ``config.set_parameter(...)`` affects the objects created afterwards.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from lithops.config import default_config, validate_section
from lithops.constants import CONFIG_FILE_ENV, LOCALHOST
from lithops.errors import ConfigError
from lithops.multiprocessing import config as mp_config
from lithops.multiprocessing.store import STORE_ENV, Store
from lithops.multiprocessing.stores import connect, store_from_env
from lithops.worker.context import inherited_config

#: Worker processes the localhost backend may start for :class:`~lithops.multiprocessing.Process` objects: each
#: running Process has a worker of its own, as it would have an OS process with the standard library.
PROCESS_SLOTS = 256
#: Start methods accepted by ``get_context``/``set_start_method`` (all behave the same: workers are separate
#: interpreters that receive pickled functions and arguments).
START_METHODS = ("spawn", "fork", "forkserver")


class Runtime:
    """One effective configuration: the Lithops config, where shared state lives, and the executors."""

    def __init__(self, user_config: dict[str, Any] | None) -> None:
        self.user_config = user_config
        self.config = default_config(user_config)
        lithops_section = self.config["lithops"]
        self.backend: str = lithops_section["backend"]
        self.mode: str = lithops_section["mode"]
        source = "the lithops.multiprocessing LITHOPS_CONFIG parameter" if user_config else "the Lithops config"
        self.source = source
        self.settings = validate_section(
            "multiprocessing", self.config.get("multiprocessing"), mp_config.MULTIPROCESSING_SECTION, source
        )
        self._lock = threading.Lock()
        self._descriptor: dict[str, Any] | None = None
        self._process_executor: Any = None
        self._keepers: dict[int, Any] = {}

    # -- the store -----------------------------------------------------------------------------------------
    @property
    def descriptor(self) -> dict[str, Any]:
        """The descriptor of this configuration's store (starts the local store server if that is the one)."""
        with self._lock:
            if self._descriptor is None:
                self._descriptor = self._resolve_store()
            return self._descriptor

    def _resolve_store(self) -> dict[str, Any]:
        inherited = os.environ.get(STORE_ENV)
        if inherited and not self.user_config:
            return dict(json.loads(inherited))  # a worker of ours: use the driver's store
        choice = self.settings["store"]
        redis_section = self.config.get("redis")
        if choice == "redis" or (choice == "auto" and redis_section):
            section = validate_section("redis", redis_section, mp_config.REDIS_SECTION, self.source)
            from lithops.multiprocessing.redisstore import warn_without_password

            warn_without_password(section)
            # values are signed with a key made for this run; workers get it with the descriptor
            return {"kind": "redis", **section, "secret": os.urandom(32).hex()}
        if choice == "local" or self.mode == LOCALHOST:
            from lithops.multiprocessing.localstore import local_server

            return local_server().descriptor()
        raise ConfigError(
            f"{self.source}: backend '{self.backend}' runs functions on other machines, which cannot reach a store "
            f"inside this process. Add a 'redis' section (host, port, password) so lithops.multiprocessing can "
            f"share state through Redis, or set multiprocessing.store: local if the workers run on this machine."
        )

    def store(self) -> Store:
        """A client of this configuration's store."""
        return connect(self.descriptor)

    # -- executors -----------------------------------------------------------------------------------------
    def worker_env(self) -> dict[str, str]:
        """Environment of workers running Pool tasks and Processes: the store, plus ``ENV_VARS``."""
        env = {str(k): str(v) for k, v in mp_config.get_parameter(mp_config.ENV_VARS).items()}
        env[STORE_ENV] = json.dumps(self.descriptor, sort_keys=True)
        return env

    def _size_options(self, workers: int | None) -> dict[str, Any]:
        if workers is None:
            return {}
        if self.backend == LOCALHOST:
            return {"worker_processes": workers}
        from lithops.plugins.manager import get_registry

        if "max_workers" in get_registry().compute_backend(self.backend).config:
            return {"max_workers": workers}
        return {}

    def new_executor(self, workers: int | None) -> Any:
        """A new FunctionExecutor on this configuration with room for ``workers`` concurrent calls."""
        from lithops.executors import FunctionExecutor

        return FunctionExecutor(config=self.user_config or None, log_level=None, **self._size_options(workers))

    def pool_executor(self, processes: int) -> Any:
        """A FunctionExecutor for one Pool; on localhost its warm workers outlive the Pool (see keep_warm)."""
        self.keep_warm(processes)
        return self.new_executor(processes)

    def keep_warm(self, processes: int) -> None:
        """Keep the localhost worker pool of this size running until exit, so the next Pool finds it warm."""
        if self.backend != LOCALHOST:
            return
        with self._lock:
            if processes in self._keepers:
                return
            keeper = self.new_executor(processes)
            keeper.call_async(abs, 0)  # the first call acquires the shared worker pool; holding it keeps it up
            self._keepers[processes] = keeper

    def process_executor(self) -> Any:
        """The FunctionExecutor that runs this configuration's Processes (one call each)."""
        with self._lock:
            if self._process_executor is None:
                slots = PROCESS_SLOTS if self.backend == LOCALHOST else None
                self._process_executor = self.new_executor(slots)
            return self._process_executor

    def cpu_count(self) -> int:
        """Worker processes a Pool gets by default: the configured or actual CPUs on localhost, else the
        backend's ``max_workers``.
        """
        section = self.config.get(self.backend) or {}
        if self.backend == LOCALHOST:
            return int(section.get("worker_processes") or section.get("max_workers") or os.cpu_count() or 1)
        return int(section.get("max_workers") or os.cpu_count() or 1)


_runtimes: dict[str, Runtime] = {}
_runtimes_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The runtime of the current configuration."""
    user_config = mp_config.get_parameter(mp_config.LITHOPS_CONFIG) or None
    key = json.dumps(
        [user_config, os.environ.get(CONFIG_FILE_ENV), inherited_config(), os.environ.get(STORE_ENV)],
        sort_keys=True, default=repr,
    )
    with _runtimes_lock:
        runtime = _runtimes.get(key)
    if runtime is None:
        runtime = Runtime(user_config)
        with _runtimes_lock:
            runtime = _runtimes.setdefault(key, runtime)
    return runtime


def current_store() -> Store:
    """The store new shared objects go to: the driver's store inside our workers, else the configured one."""
    if not mp_config.get_parameter(mp_config.LITHOPS_CONFIG):
        inherited = store_from_env()
        if inherited is not None:
            return inherited
    return get_runtime().store()


class LithopsContext:
    """What ``get_context()`` returns: the same API as the ``lithops.multiprocessing`` module."""

    def __init__(self, method: str | None = None) -> None:
        self._method = method

    def __getattr__(self, name: str) -> Any:
        import lithops.multiprocessing as module

        if name.startswith("_") or name not in module.__all__:
            raise AttributeError(f"'LithopsContext' object has no attribute {name!r}")
        return getattr(module, name)

    def get_start_method(self, allow_none: bool = False) -> str:
        """The start method this context was asked for (``spawn`` when none)."""
        return self._method or "spawn"

    def __repr__(self) -> str:
        return f"<lithops.multiprocessing context {self.get_start_method()!r}>"


#: Lithops's name for the context class.
DefaultContext = LithopsContext

_start_method: str | None = None


def get_context(method: str | None = None) -> LithopsContext:
    """A context with the module's API. Every start method behaves the same (workers receive pickled objects)."""
    if method is not None and method not in START_METHODS:
        raise ValueError(f"cannot find context for {method!r}")
    return LithopsContext(method or _start_method)


def get_start_method(allow_none: bool = False) -> str | None:
    """The start method set with :func:`set_start_method` (``spawn`` when none)."""
    if _start_method is None and allow_none:
        return None
    return _start_method or "spawn"


def set_start_method(method: str | None, force: bool = False) -> None:
    """Record a start method; accepted for compatibility (it changes nothing)."""
    global _start_method
    if _start_method is not None and not force:
        raise RuntimeError("context has already been set")
    if method is not None and method not in START_METHODS:
        raise ValueError(f"cannot find context for {method!r}")
    _start_method = method


def get_all_start_methods() -> list[str]:
    """The start methods accepted here."""
    return list(START_METHODS)


def set_executable(executable: str) -> None:
    """Accepted for compatibility: workers run the backend's runtime interpreter."""


def set_forkserver_preload(module_names: list[str]) -> None:
    """Accepted for compatibility: there is no fork server."""


def allow_connection_pickling() -> None:
    """Accepted for compatibility: pipe connections can always be pickled (they live in the store)."""
