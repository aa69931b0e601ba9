"""``lithops runtime build|deploy|list|update|delete``: delegated to the compute backend's runtime builder."""

from __future__ import annotations

from typing import Any

import click

from lithops.cli.common import CliError, backend_options, resolved_config, table


def _builder(backend: str | None, storage: str | None) -> tuple[str, Any]:
    """The configured (or given) compute backend's name and an instance of its runtime builder."""
    from lithops.plugins.manager import get_registry

    config = resolved_config(backend, storage)
    name = config["lithops"]["backend"]
    registry = get_registry()
    if name not in registry.names("runtime"):
        package = registry.find("compute", name).package
        others = [n for n in registry.names("runtime")]
        hint = f" Backends with one here: {', '.join(others)}." if others else ""
        raise CliError(
            f"compute backend '{name}' ({package}) has no runtime builder: its workers need no runtime built or "
            f"deployed, so 'lithops runtime' does not apply to it.{hint}"
        )
    cls = registry.load_class("runtime", name)
    return name, cls(config[name], config)


@click.group("runtime")
def runtime() -> None:
    """Build and deploy the environments workers run in (backends with a runtime builder)."""


@runtime.command("build", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("name")
@click.option("--file", "-f", help="Dockerfile or requirements file to build from (backend-specific).")
@backend_options
@click.pass_context
def build(ctx: click.Context, name: str, file: str | None, backend: str | None, storage: str | None) -> None:
    """Build runtime NAME; further arguments go to the backend's build tool."""
    backend_name, builder = _builder(backend, storage)
    builder.build(name, file=file, extra_args=list(ctx.args))
    click.echo(f"Runtime {name} built for backend {backend_name}.")


@runtime.command("deploy")
@click.argument("name")
@click.option("--memory", "-m", type=int, help="Memory in MiB.")
@click.option("--timeout", "-t", type=int, help="Timeout in seconds.")
@backend_options
def deploy(name: str, memory: int | None, timeout: int | None, backend: str | None, storage: str | None) -> None:
    """Deploy runtime NAME."""
    backend_name, builder = _builder(backend, storage)
    meta = builder.deploy(name, memory=memory, timeout=timeout) or {}
    extra = ", ".join(f"{k}: {v}" for k, v in meta.items() if k in ("python_version", "lithops_version", "memory"))
    click.echo(f"Runtime {name} deployed on backend {backend_name}" + (f" ({extra})." if extra else "."))


@runtime.command("list")
@backend_options
def list_runtimes(backend: str | None, storage: str | None) -> None:
    """List the deployed runtimes."""
    backend_name, builder = _builder(backend, storage)
    runtimes = builder.list()
    if not runtimes:
        click.echo(f"No runtimes deployed on backend {backend_name}.")
        return
    rows = [(rt.get("runtime_name"), rt.get("memory"), rt.get("version")) for rt in runtimes]
    click.echo(table(["RUNTIME", "MEMORY (MiB)", "VERSION"], rows))
    click.echo(f"{len(runtimes)} runtime(s) on backend {backend_name}.")


@runtime.command("update")
@click.argument("name")
@backend_options
def update(name: str, backend: str | None, storage: str | None) -> None:
    """Deploy runtime NAME again, for each memory size it is deployed with."""
    backend_name, builder = _builder(backend, storage)
    deployed = [rt for rt in builder.list() if rt.get("runtime_name") == name]
    if not deployed:
        raise CliError(f"runtime {name} is not deployed on backend {backend_name}. Deploy it: "
                       f"lithops runtime deploy {name}")
    for rt in deployed:
        builder.deploy(name, memory=rt.get("memory"))
    click.echo(f"Runtime {name} updated on backend {backend_name} ({len(deployed)} deployment(s)).")


@runtime.command("delete")
@click.argument("name")
@click.option("--memory", "-m", type=int, help="Only the deployment with this memory (MiB).")
@backend_options
def delete(name: str, memory: int | None, backend: str | None, storage: str | None) -> None:
    """Delete runtime NAME."""
    backend_name, builder = _builder(backend, storage)
    builder.delete(name, memory=memory)
    click.echo(f"Runtime {name} deleted from backend {backend_name}.")
