"""Helpers that code written for Lithops 3.x imports from ``lithops.utils``.

``setup_lithops_logger`` is the one Lithops's docs and examples start with; the others are the small helpers
user code reaches for (``FuturesList``, ``is_lithops_worker``, ``sizeof_fmt`` ...).
"""

from __future__ import annotations

import logging
import platform
import sys
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from lithops import constants
from lithops.futures import FuturesList
from lithops.worker.context import running_call

__all__ = [
    "CURRENT_PY_VERSION",
    "FuturesList",
    "is_lithops_worker",
    "is_unix_system",
    "iterchunks",
    "setup_lithops_logger",
    "sizeof_fmt",
    "uuid_str",
    "version_str",
]

T = TypeVar("T")

#: The marker on the handlers this module installs, so that calling it again replaces them.
_HANDLER_FLAG = "_lithops_utils_handler"


def setup_lithops_logger(
    log_level: int | str | None = constants.LOGGER_LEVEL,
    log_format: str = constants.LOGGER_FORMAT,
    stream: Any = None,
    filename: str | None = None,
) -> None:
    """Send the ``lithops`` loggers' records at ``log_level`` and above to ``stream`` (stderr by default) or,
    when given, to the file ``filename``. ``None`` (or ``"none"``) leaves logging as it is.

    Calling it again replaces what the previous call set up. Executors leave logging alone once it is set up
    (see ``log_level`` in docs/config.md).
    """
    if log_level is None or str(log_level).lower() == "none":
        return
    level = logging.getLevelName(log_level.upper()) if isinstance(log_level, str) else log_level
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {log_level!r}. Use DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    handler: logging.Handler
    if filename is not None:
        handler = logging.FileHandler(filename)
    else:
        if stream is None or stream == "ext://sys.stderr":
            stream = sys.stderr
        elif stream == "ext://sys.stdout":
            stream = sys.stdout
        handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(log_format))
    setattr(handler, _HANDLER_FLAG, True)
    root = logging.getLogger("lithops")
    for old in [h for h in root.handlers if getattr(h, _HANDLER_FLAG, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def is_lithops_worker() -> bool:
    """Whether this code runs inside a Lithops call (in a worker process, or in the context of a call an
    in-process backend runs), rather than in the program that submits them.
    """
    return running_call()


def uuid_str() -> str:
    """A new random UUID as a string."""
    return str(uuid.uuid4())


def version_str(version_info: Sequence[Any]) -> str:
    """``major.minor`` of a version tuple such as ``sys.version_info``."""
    return f"{version_info[0]}.{version_info[1]}"


def is_unix_system() -> bool:
    """Whether this is not Windows."""
    return platform.system() != "Windows"


def sizeof_fmt(num: float, suffix: str = "B") -> str:
    """A byte count with a binary prefix: ``sizeof_fmt(1536) == '1.5KiB'``."""
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        if abs(num) < 1024.0:
            return f"{num:3.1f}{unit}{suffix}"
        num /= 1024.0
    return f"{num:.1f}Yi{suffix}"


def iterchunks(lst: Sequence[T], n: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``lst`` of length ``n`` (the last may be shorter)."""
    if n < 1:
        raise ValueError(f"chunk length must be 1 or more, not {n}.")
    for start in range(0, len(lst), n):
        yield lst[start:start + n]


#: ``major.minor`` of the running Python.
CURRENT_PY_VERSION = version_str(sys.version_info)
