"""What a call may change in a warm worker process, put back before the next call runs.

A process that runs many calls (the localhost worker) takes a :class:`ProcessState` once, when it is ready to
run calls, and calls :meth:`ProcessState.restore` after each call: the working directory, the environment
variables, the umask, ``sys.path`` and the standard stream objects are then as they were. What cannot be put
back (a standard stream the call closed, a working directory that no longer exists, threads the call started and
left running) is reported, and the process should let itself be replaced. Checking costs a couple of
microseconds per call.

The variables a job's calls run with are a :class:`CallEnvironment`, set around each call. A process that only runs
calls leaves them set between the calls of one job (:meth:`CallEnvironment.remove` with ``keep=True``), so the
next call of that job finds them in place and sets nothing; :meth:`ProcessState.restore` counts them as part of
the state it expects, and if a call changed anything at all, puts everything back and drops them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

_STREAMS = ("stdin", "stdout", "stderr")
#: Threads named with this prefix are Lithops's own (output echo, a nested executor's monitor and pool, a
#: multiprocessing store): they may outlive the call that started them.
KERNEL_THREAD_PREFIX = "lithops-"
#: How long :meth:`ProcessState.restore` lets threads a call started finish by themselves (seconds).
THREAD_GRACE_SEC = 0.05


def _environ_live() -> dict[Any, Any]:
    """The environment's underlying mapping (CPython keeps the encoded strings in ``os.environ._data``), compared
    far quicker than ``dict(os.environ)`` (the same objects compare by identity); a plain copy where it does not
    exist.
    """
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environ)


def _environ_data() -> dict[Any, Any]:
    """A copy of :func:`_environ_live`, to compare the environment with later."""
    return dict(_environ_live())


#: The call environment left set between calls (see :meth:`CallEnvironment.remove`), or None.
_kept: CallEnvironment | None = None


class CallEnvironment:
    """Environment variables set while a call runs, and put back as they were after it. Calls of the same
    environment may run at once in threads: the variables are set by the first and put back after the last.

    Args:
        env: the variables and their values.
    """

    __slots__ = ("_after", "_lock", "_running", "_saved", "env")

    def __init__(self, env: dict[str, str]) -> None:
        self.env = dict(env)
        self._saved: dict[str, str | None] = {}  # the values the variables had before apply
        self._after: dict[Any, Any] | None = None  # the environment right after apply
        self._lock = threading.Lock()
        self._running = 0  # calls between apply and remove

    def apply(self) -> None:
        """Set the variables. Nothing to do when they were kept since this environment's last call and nothing
        changed the environment since (one dict comparison).
        """
        with self._lock:
            self._running += 1
            if self._running == 1:
                self._apply()

    def _apply(self) -> None:
        global _kept
        if _kept is self and _environ_live() == self._after:
            return
        if _kept is not None:  # another job's, kept after its last call: no call of it is running
            _kept._remove(keep=False)
        environ = os.environ
        self._saved = {key: environ.get(key) for key in self.env}
        for key, value in self.env.items():
            if self._saved[key] != value:
                environ[key] = value
        self._after = _environ_data()

    def remove(self, keep: bool = False) -> None:
        """Put the variables back as they were before :meth:`apply`. With ``keep`` (a process that does nothing
        but run calls), leave them set for the next call of the same environment: the next :meth:`apply` of
        another one, or :meth:`ProcessState.restore` when anything changed, puts them back.
        """
        with self._lock:
            self._running -= 1
            if not self._running:
                self._remove(keep)

    def _remove(self, keep: bool) -> None:
        global _kept
        if keep:
            _kept = self
            return
        if _kept is self:
            _kept = None
        environ = os.environ
        for key, value in self._saved.items():
            if value is None:
                environ.pop(key, None)
            elif environ.get(key) != value:
                environ[key] = value


class ProcessState:
    """The state a call starts from, taken when the process is ready to run calls."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.environ = dict(os.environ)
        self._environ_data = _environ_data()
        self.umask = os.umask(0o022)
        os.umask(self.umask)
        self.path = list(sys.path)
        self.streams = tuple(getattr(sys, name) for name in _STREAMS)
        self.threads = set(threading.enumerate())

    def _threads_left(self) -> list[threading.Thread]:
        """Threads started since the state was taken that are still running after a short grace (not the
        kernel's own, see :data:`KERNEL_THREAD_PREFIX`).
        """
        left = [t for t in threading.enumerate()
                if t not in self.threads and not t.name.startswith(KERNEL_THREAD_PREFIX)]
        if left:
            deadline = time.monotonic() + THREAD_GRACE_SEC
            for thread in left:
                thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in left if t.is_alive()]

    def _restore_environ(self) -> None:
        """Put the environment back as it was, unless it is that plus a call environment kept unchanged."""
        global _kept
        live = _environ_live()
        if _kept is not None:
            if live == _kept._after:
                return
            _kept = None  # changed: everything is put back below, the kept variables too
        if live == self._environ_data:
            return
        for key in set(os.environ) - set(self.environ):
            del os.environ[key]
        for key, value in self.environ.items():
            if os.environ.get(key) != value:
                os.environ[key] = value

    def restore(self) -> str | None:
        """Put everything back; return why this process cannot be trusted with more calls, or None."""
        try:
            moved = os.getcwd() != self.cwd
        except OSError:  # the call removed the folder it had moved to
            moved = True
        if moved:
            try:
                os.chdir(self.cwd)
            except OSError as exc:
                return f"left the working directory {self.cwd} unusable ({exc.strerror})"
        self._restore_environ()
        os.umask(self.umask)
        if sys.path != self.path:
            sys.path[:] = self.path
        for name, original in zip(_STREAMS, self.streams, strict=True):
            if getattr(sys, name) is not original:
                setattr(sys, name, original)
            if original is not None and getattr(original, "closed", False):
                return f"closed sys.{name}"
        left = self._threads_left()
        if left:  # they would run on during later calls, which would also see them
            names = ", ".join(sorted(t.name for t in left))
            return f"left {len(left)} thread(s) running ({names})"
        return None
