"""What the command modules share: the common options, config loading and one-line errors."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from lithops.constants import CONFIG_FILE_ENV
from lithops.errors import LithopsError

F = TypeVar("F", bound=Callable[..., Any])

DEBUG_KEY = "lithops_debug"


class CliError(LithopsError):
    """An expected failure of a command: shown as one line (``Error: ...``) and exit code 1."""


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[DEBUG_KEY] = True
    return value


def _set_config_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        # discovery then reads it like any config file, and errors name it as "config file <path>"
        os.environ[CONFIG_FILE_ENV] = os.path.abspath(value)
    return value


def debug_option(func: F) -> F:
    """``--debug/-d``: full tracebacks and debug logging (also accepted before the command)."""
    return click.option("--debug", "-d", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
                        help="Show tracebacks and debug logs.")(func)


def config_option(func: F) -> F:
    """``--config/-c FILE``: use this config file instead of the discovered one."""
    return click.option("--config", "-c", "config_file", type=click.Path(exists=True, dir_okay=False),
                        expose_value=False, is_eager=True, callback=_set_config_file,
                        help="Config file to use instead of the discovered one.")(func)


def backend_options(func: F) -> F:
    """``--config/-c``, ``--backend/-b`` (compute), ``--storage/-s`` and ``--debug/-d``."""
    func = click.option("--storage", "-s", help="Storage backend name (default: the configured one).")(func)
    func = click.option("--backend", "-b", help="Compute backend name (default: the configured one).")(func)
    return debug_option(config_option(func))


def storage_options(func: F) -> F:
    """``--config/-c``, ``--backend/-b`` (a storage backend here, as in Lithops) and ``--debug/-d``."""
    func = click.option("--backend", "-b", help="Storage backend name (default: the configured one).")(func)
    return debug_option(config_option(func))


def debugging() -> bool:
    """Whether ``--debug`` was given to this invocation."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(DEBUG_KEY))


def log_level() -> str | None:
    """The ``log_level`` for executors made by a command: DEBUG with ``--debug``, else logging untouched."""
    return "DEBUG" if debugging() else None


def overrides(backend: str | None, storage: str | None) -> dict[str, Any] | None:
    """The ``lithops`` section keys that the command line overrides."""
    section = {k: v for k, v in (("backend", backend), ("storage", storage)) if v}
    return {"lithops": section} if section else None


def resolved_config(backend: str | None = None, storage: str | None = None) -> dict[str, Any]:
    """The full, validated config with the command line's overrides (as ``FunctionExecutor`` sees it)."""
    from lithops.config import default_config

    return default_config(None, overrides(backend, storage), overwrite_source="command-line option")


def executor(backend: str | None = None, storage: str | None = None) -> Any:
    """A FunctionExecutor for the configured (or given) backends."""
    from lithops.executors import FunctionExecutor

    return FunctionExecutor(backend=backend, storage=storage, log_level=log_level())


def storage_client(backend: str | None = None) -> Any:
    """A :class:`lithops.Storage` for the configured (or given) storage backend."""
    from lithops.storage.storage import Storage

    return Storage(backend=backend)


def human_size(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def local_time(ts: Any) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS`` (``-`` when missing)."""
    if not isinstance(ts, (int, float)):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def duration(seconds: Any) -> str:
    """Seconds as ``1.2 s``, ``3m04s`` or ``2h05m`` (``-`` when missing)."""
    if not isinstance(seconds, (int, float)):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as a plain text table with aligned columns (the last column is not padded)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
