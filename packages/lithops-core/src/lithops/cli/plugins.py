"""``lithops plugins``: installed plugin packages, their versions, the backends each registers, and failures."""

from __future__ import annotations

import click

from lithops.cli.common import debug_option
from lithops.plugins.specs import ComputeBackendSpec


@click.command("plugins")
@debug_option
def plugins() -> None:
    """List installed plugin packages, their backends, and any that failed to load (with the reason); exit 1
    when a plugin failed to load or two plugins register the same backend name.
    """
    from lithops.plugins.hookspecs import PLUGIN_API, PLUGIN_API_ATTRIBUTE, SUPPORTED_PLUGIN_APIS
    from lithops.plugins.manager import get_registry

    registry = get_registry()
    if not registry.plugins:
        click.echo("No Lithops plugins installed. Install one, e.g.: pip install lithops-localhost")
        return
    failed = 0
    for info in sorted(registry.plugins.values(), key=lambda p: p.package):
        api = (f"  (plugin API {info.api})" if info.api else
               f"  (declares no plugin API; loaded as API {SUPPORTED_PLUGIN_APIS[0]}: its authors should set "
               f"{PLUGIN_API_ATTRIBUTE} = \"{PLUGIN_API}\")")
        click.echo(f"{info.package} {info.version}".rstrip() + api)
        for reg in info.backends:
            spec = reg.spec
            mode = f" ({spec.mode})" if isinstance(spec, ComputeBackendSpec) else ""
            click.echo(f"  {reg.kind:8} {spec.name}{mode}  {spec.description}".rstrip())
        for command in info.commands:
            click.echo(f"  {'command':8} lithops {command.name}  {command.get_short_help_str()}".rstrip())
        if info.error:
            failed += 1
            click.echo(f"  FAILED TO LOAD: {info.error}")
            if "plugin API" not in info.error:
                click.echo(f"    Reinstall it with its dependencies: pip install --force-reinstall {info.package}")
    conflicts = registry.conflicts()
    builtin = getattr(click.get_current_context().find_root().command, "commands", {})
    owners: dict[str, list[str]] = {}
    for info in registry.plugins.values():
        for command in info.commands:
            owners.setdefault(command.name, []).append(info.package)
    for name, packages in sorted(owners.items()):
        if name in builtin:
            conflicts.append(f"{packages[0]} adds a command 'lithops {name}', which Lithops has already: "
                             f"rename it in {packages[0]}.")
        elif len(packages) > 1:
            conflicts.append(f"command 'lithops {name}' is added by both {' and '.join(packages)}: only "
                             f"{packages[0]}'s is used. Rename one of them.")
    for conflict in conflicts:
        click.echo(f"CONFLICT: {conflict}")
    if failed:
        click.echo(f"{failed} plugin(s) failed to load; their backends are unavailable. "
                   f"LITHOPS_DISABLED_PLUGINS=<name> skips one.")
    if failed or conflicts:
        raise click.exceptions.Exit(1)
