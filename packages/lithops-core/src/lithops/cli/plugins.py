"""``lithops plugins``: installed plugin packages, their versions, the backends each registers, and failures."""

from __future__ import annotations

import click

from lithops.cli.common import debug_option


@click.command("plugins")
@debug_option
def plugins() -> None:
    """List installed plugin packages, their backends, and any that failed to load (with the reason)."""
    from lithops.plugins.manager import get_registry

    registry = get_registry()
    if not registry.plugins:
        click.echo("No Lithops plugins installed. Install one, e.g.: pip install lithops-localhost")
        return
    failed = 0
    for info in sorted(registry.plugins.values(), key=lambda p: p.package):
        click.echo(f"{info.package} {info.version}".rstrip())
        for reg in info.backends:
            spec = reg.spec
            mode = f" ({spec.mode})" if reg.kind == "compute" else ""
            click.echo(f"  {reg.kind:8} {spec.name}{mode}  {spec.description}".rstrip())
        if info.error:
            failed += 1
            click.echo(f"  FAILED TO LOAD: {info.error}")
            click.echo(f"    Reinstall it with its dependencies: pip install --force-reinstall {info.package}")
    if failed:
        click.echo(f"{failed} plugin(s) failed to load; their backends are unavailable. "
                   f"LITHOPS_DISABLED_PLUGINS=<name> skips one.")
