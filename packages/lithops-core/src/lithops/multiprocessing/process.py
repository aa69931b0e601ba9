"""``Process``: one ``call_async`` of the configured backend per started process.

The Process object itself (with its target and arguments, or a subclass with its own ``run``) is pickled to a
worker, which runs ``run()`` and returns the exit code: 0, the code given to ``sys.exit``, or 1 after an
uncaught exception (whose traceback the worker prints to its stderr, as the standard library's child does). A
worker that dies while running it gives exit code 1; ``terminate()``/``kill()`` stop the worker and give
``-SIGTERM``/``-SIGKILL``. On localhost every running Process has a worker process of its own.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Mapping
from multiprocessing import util
from multiprocessing.process import AuthenticationString  # type: ignore[attr-defined]
from typing import Any

from lithops.multiprocessing.shared import SharedObject

_counter = itertools.count(1)
#: Started Processes not known to have ended (held, as the standard library holds its children, to join at exit).
_children: set[Process] = set()
_exit_hook_registered = False
_exit_hook_lock = threading.Lock()

#: The process whose code runs in this worker right now (a Process, or a Pool worker), else None.
_current: Any = None


class _ParentProcess:
    """What :func:`parent_process` returns in a child: the process that started it (as the standard library's)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.name: str = info["name"]
        self.pid: int = info["pid"]
        self.ident = self.pid
        self._host: str = info["host"]
        self.daemon = False
        self.exitcode = None

    def is_alive(self) -> bool:
        """Whether the parent still runs (checked by pid when it runs on this machine, else assumed)."""
        if self._host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True

    def join(self, timeout: float | None = None) -> None:
        """Wait until the parent ends, or ``timeout`` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_alive() and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.05)

    @property
    def sentinel(self) -> int:
        """Not available for a parent."""
        raise NotImplementedError(
            "the parent of a lithops.multiprocessing process has no sentinel; use parent_process().is_alive()"
        )

    def __repr__(self) -> str:
        return f"<_ParentProcess name={self.name!r} parent={self.pid} {'started' if self.is_alive() else 'stopped'}>"


#: The parent of the process whose code runs here (a Process or Pool task in a worker), else None.
_parent: _ParentProcess | None = None


def _mp_logger() -> logging.Logger | None:
    """The ``multiprocessing`` logger if the program created it (``get_logger()``), else None."""
    logger: logging.Logger | None = vars(util).get("_logger")
    return logger


def parent_info() -> dict[str, Any]:
    """What a child of this process inherits: who its parent is, the authentication key and the level of the
    ``multiprocessing`` logger (as the standard library passes them to a spawned child).
    """
    me = current_process()
    mp_logger = _mp_logger()
    level = mp_logger.getEffectiveLevel() if mp_logger is not None else None
    return {"name": me.name, "pid": os.getpid(), "host": socket.gethostname(), "authkey": bytes(me.authkey),
            "log_level": level}


def enter_child(info: dict[str, Any]) -> tuple[Any, ...]:
    """Apply a parent's :func:`parent_info` in this worker for one Process or task; :func:`leave_child` undoes it."""
    global _parent
    main = multiprocessing.current_process()
    mp_logger = _mp_logger()
    saved = (_parent, bytes(main.authkey), mp_logger.level if mp_logger is not None else None)
    _parent = _ParentProcess(info)
    main.authkey = info["authkey"]
    if info["log_level"] is not None:
        util.get_logger().setLevel(info["log_level"])
    return saved


def leave_child(saved: tuple[Any, ...]) -> None:
    """Undo :func:`enter_child` (the warm worker goes back to its own state)."""
    global _parent
    _parent, authkey, level = saved
    multiprocessing.current_process().authkey = authkey
    mp_logger = _mp_logger()
    if mp_logger is not None:
        mp_logger.setLevel(level if level is not None else logging.NOTSET)


class _PidSlot(SharedObject):
    """Where the worker running a Process reports its pid."""

    def __init__(self) -> None:
        self._attach("pid")


class Process:
    """Runs ``target(*args, **kwargs)`` (or an overridden :meth:`run`) in a worker of the configured backend."""

    def __init__(
        self,
        group: None = None,
        target: Callable[..., Any] | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        if group is not None:
            raise AssertionError("group argument must be None for now")
        self._identity = next(_counter)
        self._name = name if name is not None else f"{type(self).__name__}-{self._identity}"
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._daemon = bool(daemon)
        self._parent_pid = os.getpid()
        self._future: Any = None
        self._executor: Any = None
        self._slot: _PidSlot | None = None
        self._pid: int | None = None
        self._stop_code: int | None = None
        self._closed = False
        self._in_worker = False
        self._authkey = bytes(current_process().authkey)
        self._parent_info: dict[str, Any] | None = None
        self._sentinel: tuple[int, Any] | None = None  # the descriptor, and the finalizer that closes it

    @property
    def authkey(self) -> bytes:
        """The authentication key: the parent's unless set; in the child it is ``current_process().authkey``
        and what ``connection.Listener``/``Client`` use by default, as with the standard library.
        """
        return AuthenticationString(self._authkey)

    @authkey.setter
    def authkey(self, value: bytes) -> None:
        self._authkey = bytes(value)

    # -- what runs in the worker ---------------------------------------------------------------------------
    def run(self) -> None:
        """The process's activity: calls the target. Subclasses may override it."""
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for local in ("_future", "_executor", "_pid", "_stop_code", "_sentinel"):
            state[local] = None
        return state

    def _check_closed(self) -> None:
        if self._closed:
            raise ValueError("process object is closed")

    # -- driver side ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start running :meth:`run` in a worker."""
        if self._closed:
            raise ValueError("process object is closed")
        if self._future is not None:
            raise AssertionError("cannot start a process twice")
        if self._parent_pid != os.getpid():
            raise AssertionError("can only start a process object created by current process")
        from lithops.multiprocessing.context import get_runtime

        runtime = get_runtime()
        self._slot = _PidSlot()
        self._parent_info = parent_info()
        executor = runtime.process_executor()
        self._future = executor.call_async(_bootstrap, (self,), extra_env=runtime.worker_env())
        self._executor = executor
        # as the standard library: the target and its arguments travelled; this object keeps no reference to them
        del self._target, self._args, self._kwargs
        active_children()  # forget the ended ones
        _children.add(self)
        _register_exit_hook()

    def _check_started(self, what: str) -> Any:
        if self._future is None:
            raise AssertionError(f"can only {what} a started process")
        return self._future

    def join(self, timeout: float | None = None) -> None:
        """Wait until the process ends, or ``timeout`` seconds pass."""
        self._check_closed()
        if self._parent_pid != os.getpid():
            raise AssertionError("can only join a child process")
        future = self._check_started("join")
        from lithops.errors import WaitTimeoutError
        from lithops.wait import wait

        try:
            wait([future], throw_except=False, timeout=timeout, show_progressbar=False)
        except WaitTimeoutError:
            pass

    def is_alive(self) -> bool:
        """Whether the process has started and not ended."""
        self._check_closed()
        if self._in_worker:
            return True
        return self._future is not None and not self._future.finished

    @property
    def exitcode(self) -> int | None:
        """None while running; then 0, the ``sys.exit`` code, 1 after an exception, ``-signal`` if stopped."""
        self._check_closed()
        if self._in_worker or self._future is None or not self._future.finished:
            return None
        if self._stop_code is not None:
            return self._stop_code
        if self._future.error:
            return 1
        try:
            return int(self._future.result())
        except Exception:
            return 1

    def _stop(self, code: int) -> None:
        self._check_closed()
        if self.is_alive():
            self._stop_code = code
            self._executor.clean(fs=[self._future], force=True)

    def terminate(self) -> None:
        """Stop the process (its worker is killed); ``exitcode`` becomes ``-SIGTERM``."""
        self._stop(-signal.SIGTERM)

    def kill(self) -> None:
        """Stop the process (its worker is killed); ``exitcode`` becomes ``-SIGKILL``."""
        self._stop(-signal.SIGKILL)

    def close(self) -> None:
        """Release what the Process object holds; ValueError while it runs. Afterwards most methods raise
        ValueError, as with the standard library.
        """
        if self._closed:
            return
        if self.is_alive():
            raise ValueError("Cannot close a process while it is still running. You should first call join() or "
                             "terminate().")
        if self._slot is not None:
            self._slot._release_keys()
        if self._sentinel is not None:
            self._sentinel[1]()
            self._sentinel = None
        _children.discard(self)
        self._closed = True

    @property
    def pid(self) -> int | None:
        """The pid of the worker process running it: None before ``start()``; waits until the worker starts it."""
        if self._in_worker:
            return os.getpid()
        if self._pid is not None or self._future is None or self._slot is None:
            return self._pid
        store, key = self._slot._store, self._slot._key
        while self._pid is None:
            finished = self._future.finished
            raw = store.pop_wait(key, 0 if finished else 1.0)
            if raw is not None:
                self._pid = int(raw)
            elif finished:
                break
        return self._pid

    ident = pid

    @property
    def name(self) -> str:
        """The process name (``Process-N`` unless given)."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("name must be a string")
        self._name = value

    @property
    def daemon(self) -> bool:
        """Daemon processes are stopped when the driver exits; others are waited for."""
        return self._daemon

    @daemon.setter
    def daemon(self, value: bool) -> None:
        if self._future is not None:
            raise AssertionError("process has already started")
        self._daemon = bool(value)

    @property
    def sentinel(self) -> int:
        """A file descriptor that becomes ready (end of file) when the process ends: usable with
        ``connection.wait`` (ours or the standard library's) and ``select``.
        """
        self._check_closed()
        future = self._check_started("get the sentinel of")
        if self._sentinel is None:
            read_fd, write_fd = os.pipe()
            self._sentinel = (read_fd, weakref.finalize(self, os.close, read_fd))
            from lithops.multiprocessing.pool import watch_future

            watch_future(future, lambda _: os.close(write_fd))
        return self._sentinel[0]

    def __repr__(self) -> str:
        if self._future is None:
            status = "initial"
        elif self.is_alive():
            status = "started"
        else:
            status = f"stopped exitcode={self.exitcode}"
        daemon = " daemon" if self._daemon else ""
        return f"<{type(self).__name__} name={self._name!r} parent={self._parent_pid} {status}{daemon}>"


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(str(code) + "\n")
    return 1


def _bootstrap(process: Process) -> int:
    """Run a Process in this worker and return its exit code (never raises)."""
    global _current
    from lithops.multiprocessing.connection import close_process_handles, received_mark

    previous, _current = _current, process
    process._in_worker = True
    mark = received_mark()
    saved = enter_child(process._parent_info) if process._parent_info else None
    threads_before = set(threading.enumerate())
    try:
        if process._slot is not None:
            try:
                process._slot._store.rpush(process._slot._key, str(os.getpid()).encode())
            except Exception:  # the pid is informative only
                pass
        try:
            process.run()
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except BaseException:
            sys.stderr.write(f"Process {process.name}:\n")
            traceback.print_exc()
            code = 1
        return code
    finally:
        # as the standard library's child does before it exits: wait for the threads it started (not daemons)
        for thread in threading.enumerate():
            if thread not in threads_before and not thread.daemon and thread is not threading.current_thread():
                thread.join()
        _current = previous
        if saved is not None:
            leave_child(saved)
        close_process_handles(process, mark)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass


class _PoolWorker:
    """What ``current_process()`` returns inside a Pool task."""

    daemon = True
    exitcode = None

    def __init__(self, authkey: bytes) -> None:
        self.name = f"LithopsPoolWorker-{os.getpid()}"
        self.pid = self.ident = os.getpid()
        self.authkey = AuthenticationString(authkey)

    def is_alive(self) -> bool:
        """Always True: it is running this code."""
        return True


def set_current(process: Any) -> Any:
    """Make ``process`` what :func:`current_process` returns here; return the previous one."""
    global _current
    previous, _current = _current, process
    return previous


def pool_worker(authkey: bytes) -> _PoolWorker:
    """A process object describing this worker as a Pool worker of a parent with ``authkey``."""
    return _PoolWorker(authkey)


def current_process() -> Any:
    """The Process running this code: inside a worker the Process (or Pool worker), else the main process."""
    return _current if _current is not None else multiprocessing.current_process()


def active_children() -> list[Process]:
    """The started Processes of this process that have not ended."""
    for p in list(_children):
        if not p.is_alive():
            _children.discard(p)
    return list(_children)


def parent_process() -> Any:
    """The process that started this Process or Pool task (name, pid, ``is_alive``, ``join``); None in the
    driver.
    """
    return _parent


def _at_exit() -> None:
    """As the standard library does at exit: stop daemon processes, wait for the others."""
    for p in list(_children):
        try:
            if p.is_alive():
                if p.daemon:
                    p.terminate()
                else:
                    p.join()
        except Exception:  # exiting: nothing useful to do
            pass


def _register_exit_hook() -> None:
    # Registered on first start(), after lithops.executors registered its own exit hook, so this runs first.
    global _exit_hook_registered
    with _exit_hook_lock:
        if not _exit_hook_registered:
            atexit.register(_at_exit)
            _exit_hook_registered = True
