"""``lithops``: command line entry point. Errors are one readable line with the fix; ``--debug`` shows tracebacks."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click

from lithops.errors import LithopsError


class _Group(click.Group):
    """Turns Lithops errors into one line on stderr and exit code 1, unless --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LithopsError as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.version_option(package_name="lithops-core", prog_name="lithops")
def cli(debug: bool) -> None:
    """Run Python functions at scale on this machine or any cloud."""


def _greet(name: str) -> str:
    return f"Hello {name}! Lithops is working as expected :)"


@cli.command()
@click.option("--config", "-c", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="Config file to use instead of the discovered one.")
@click.option("--backend", "-b", help="Compute backend name.")
@click.option("--storage", "-s", help="Storage backend name.")
def hello(config_file: str | None, backend: str | None, storage: str | None) -> None:
    """Run a first function on the configured backend."""
    from lithops.config import load_yaml_config
    from lithops.executors import FunctionExecutor

    config = load_yaml_config(config_file) if config_file else None
    with FunctionExecutor(config=config, backend=backend, storage=storage, log_level=None) as fexec:
        click.echo(fexec.call_async(_greet, getpass.getuser()).result())


@cli.command()
def plugins() -> None:
    """List installed plugin packages, their backends, and any that failed to load."""
    from lithops.plugins.manager import get_registry

    registry = get_registry()
    if not registry.plugins:
        click.echo("No Lithops plugins installed. Install one, e.g.: pip install lithops-localhost")
        return
    for info in sorted(registry.plugins.values(), key=lambda p: p.package):
        click.echo(f"{info.package} {info.version}".rstrip())
        for reg in info.backends:
            spec = reg.spec
            mode = f" ({spec.mode})" if reg.kind == "compute" else ""
            click.echo(f"  {reg.kind:8} {spec.name}{mode}  {spec.description}".rstrip())
        if info.error:
            click.echo(f"  FAILED TO LOAD: {info.error}")


def main() -> None:
    """Console script entry point."""
    cli(prog_name="lithops")
