"""What a call may change in a warm worker process, put back before the next call runs.

A process that runs many calls (the localhost worker) takes a :class:`ProcessState` once, when it is ready to
run calls, and calls :meth:`ProcessState.restore` after each call: the working directory, the environment
variables, the umask, ``sys.path`` and the standard stream objects are then as they were. What cannot be put
back (a standard stream the call closed, a working directory that no longer exists) is reported, and the
process should let itself be replaced. Checking costs a couple of microseconds per call.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_STREAMS = ("stdin", "stdout", "stderr")


def _environ_data() -> Any:
    """The environment's underlying mapping (CPython keeps the encoded strings in ``os.environ._data``), copied
    and compared far quicker than ``dict(os.environ)``; a plain copy where it does not exist.
    """
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


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

    def _environ_changed(self) -> bool:
        data = getattr(os.environ, "_data", None)
        return (data if isinstance(data, dict) else dict(os.environ)) != self._environ_data

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
        if self._environ_changed():
            for key in set(os.environ) - set(self.environ):
                del os.environ[key]
            for key, value in self.environ.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value
        os.umask(self.umask)
        if sys.path != self.path:
            sys.path[:] = self.path
        for name, original in zip(_STREAMS, self.streams, strict=True):
            if getattr(sys, name) is not original:
                setattr(sys, name, original)
            if original is not None and getattr(original, "closed", False):
                return f"closed sys.{name}"
        return None
