"""``lithops``: the command line. Each command group lives in its own module of this package.

Every error a command hits is one line on stderr (``Error: ...``, saying what to do) and exit code 1; with
``--debug`` (before or after the command name) the traceback is shown instead.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import click

from lithops.cli import clean, config, jobs, logs, plugins, runtime, selftest, standalone, storage, workers
from lithops.cli.common import DEBUG_KEY, _set_debug, backend_options, log_level
from lithops.errors import LithopsError


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, LithopsError):
        return str(exc)  # written for users: says what to do (a pip line may follow on its own line)
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}. Run the command again with --debug to see where it happened."


#: Raised by click >= 8.2 for a group called without a command (its message is the group's help).
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    c for c in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if c is not None)


#: Exit code of a command whose reader went away (``lithops storage list | head -3``): what a shell reports for a
#: Unix tool ended by SIGPIPE (128 + 13).
BROKEN_PIPE_EXIT = 141


def _reader_gone() -> None:
    """Stdout's reader closed the pipe: stop quietly, as Unix tools do."""
    try:  # later writes and the flush at exit must not complain again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(BROKEN_PIPE_EXIT)


class _Group(click.Group):
    """Turns any error into one line on stderr and exit code 1, unless ``--debug``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _NO_ARGS_IS_HELP:
            raise  # `lithops storage` alone: the group's help
        except click.exceptions.UsageError as exc:  # a missing argument, a bad option value, an unknown command
            if ctx.meta.get(DEBUG_KEY):
                raise
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            click.echo(f"Error: {exc.format_message()} See '{where} --help'.", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # --help, --version and the like: click's own way
        except KeyboardInterrupt:
            if ctx.meta.get(DEBUG_KEY):
                raise
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except BrokenPipeError:
            _reader_gone()
        except Exception as exc:
            if ctx.meta.get(DEBUG_KEY):
                raise
            click.echo(f"Error: {_one_line(exc)}", err=True)
            sys.exit(1)


class _Root(_Group):
    """The ``lithops`` group: its own commands, then those plugins add (``lithops_cli_commands`` hook), which are
    looked up only when a name is not one of its own or the list of commands is asked for.
    """

    def _plugin_commands(self) -> dict[str, click.Command]:
        from lithops.plugins.manager import get_registry

        try:
            found = get_registry().cli_commands()
        except Exception:  # the registry reports its own problems through 'lithops plugins'
            return {}
        return {name: command for name, (command, _) in found.items() if name not in self.commands}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*self.commands, *self._plugin_commands()])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        return self._plugin_commands().get(cmd_name)


@click.group(cls=_Root)
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
              help="Show tracebacks and debug logs.")
@click.version_option(package_name="lithops-core", prog_name="lithops")
def cli() -> None:
    """Run Python functions at scale on this machine or any cloud."""


def _greet(name: str) -> str:
    return f"Hello {name}! Lithops is working as expected :)"


@cli.command()
@backend_options
def hello(backend: str | None, storage: str | None) -> None:
    """Run a first function on the configured backend."""
    import getpass

    from lithops.executors import FunctionExecutor

    with FunctionExecutor(backend=backend, storage=storage, log_level=log_level()) as fexec:
        click.echo(fexec.call_async(_greet, getpass.getuser()).result())


cli.add_command(selftest.test)
cli.add_command(clean.clean)
cli.add_command(storage.storage)
cli.add_command(runtime.runtime)
cli.add_command(logs.logs)
cli.add_command(jobs.job)
cli.add_command(workers.worker)
cli.add_command(standalone.attach)
cli.add_command(plugins.plugins)
cli.add_command(config.config)

def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    click.echo(f"Warning: {message}", err=True)


def main() -> None:
    """Console script entry point."""
    warnings.showwarning = _show_warning  # config warnings as one line, not with source locations
    try:
        code = cli.main(prog_name="lithops", standalone_mode=False)
    except _NO_ARGS_IS_HELP as exc:
        click.echo(exc.format_message(), err=True)  # type: ignore[attr-defined]
        sys.exit(2)
    except click.exceptions.UsageError as exc:  # before any command runs: `lithops --bogus`
        where = exc.ctx.command_path if exc.ctx is not None else "lithops"
        click.echo(f"Error: {exc.format_message()} See '{where} --help'.", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        _reader_gone()
    sys.exit(code if isinstance(code, int) else 0)
