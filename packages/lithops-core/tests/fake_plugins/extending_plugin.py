"""Uses the extension points: a CLI command group, a cross-key config rule and a 'lithops test' check."""

import click

from lithops.plugins import ComputeBackendSpec, ConfigKey, hookimpl

LITHOPS_PLUGIN_API = "1"


def cpu_memory_rule(section):
    """Memory above 2048 MiB needs 2 CPUs."""
    if section["runtime_memory"] > 2048 and section["runtime_cpu"] < 2:
        return [f"runtime_memory {section['runtime_memory']} needs runtime_cpu of at least 2 (it is "
                f"{section['runtime_cpu']}). Raise runtime_cpu or lower runtime_memory."]
    return None


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(
        name="extcloud", mode="serverless", backend="fake_backends:FakeCompute", validate=cpu_memory_rule,
        checks=("extending_plugin:quota_check",),
        config={"runtime_memory": ConfigKey(type=int, default=1024, doc="MiB"),
                "runtime_cpu": ConfigKey(type=int, default=1, doc="CPUs")},
    )]


@click.group("extcloud")
def extcloud():
    """Commands of the extcloud plugin."""


@extcloud.command("quota")
def quota():
    """Show the account's quota."""
    click.echo("quota: 42 functions")


@hookimpl
def lithops_cli_commands():
    return [extcloud]


def quota_check(fexec):
    """A check lithops test runs for extcloud."""
    return f"quota fine for {fexec.backend}"
