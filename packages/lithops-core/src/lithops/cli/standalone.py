"""Standalone mode on the command line: ``lithops attach``, and the VMs shown by ``lithops worker list`` and
removed by ``lithops clean --all``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from typing import Any

import click

from lithops.cli.common import backend_options, resolved_config, table


def standalone_backend(config: Mapping[str, Any]) -> Any:
    """The configured compute backend if it is a standalone one (:class:`lithops.standalone.backend.
    StandaloneBackend`), else None.
    """
    from lithops.plugins.manager import get_registry
    from lithops.standalone.backend import StandaloneBackend
    from lithops.storage.job_storage import JobStorage

    name = config["lithops"]["backend"]
    if config["lithops"].get("mode") != "standalone":
        return None
    cls = get_registry().load_class("compute", name)
    if not issubclass(cls, StandaloneBackend):
        return None
    return cls(config[name], config, storage=JobStorage.from_config(config))


def vm_rows(backend: Any) -> list[tuple[Any, ...]]:
    """One row per VM of ``backend`` for ``lithops worker list``."""
    rows = []
    for vm, beat in backend.vms():
        agent = "-"
        if beat and not beat.get("error"):
            age = time.time() - float(beat.get("time") or 0)
            agent = f"pid {beat.get('pid')}" if age < 30 else f"stopped ({age:.0f} s ago)"
        elif beat:
            agent = "failed"
        rows.append((vm.name, vm.address or "-", vm.state, agent, beat.get("worker_processes", "-") if beat else "-",
                     beat.get("busy", "-") if beat else "-", beat.get("python_full_version", "-") if beat else "-"))
    return rows


def print_vms(backend: Any) -> None:
    """Print the VMs of a standalone backend."""
    rows = vm_rows(backend)
    click.echo(table(["VM", "ADDRESS", "STATE", "AGENT", "WORKER PROCS", "BUSY", "PYTHON"], rows))
    click.echo(f"{len(rows)} VM(s) of backend {backend.section}.")


@click.command("attach")
@click.argument("name", required=False)
@click.option("--command", "remote", help="Run this command there instead of an interactive shell.")
@backend_options
def attach(name: str | None, remote: str | None, backend: str | None, storage: str | None) -> None:
    """Open an SSH shell on a standalone VM: the master (the first VM) or the one called NAME."""
    from lithops.errors import ConfigError

    config = resolved_config(backend, storage)
    compute = standalone_backend(config)
    if compute is None:
        raise ConfigError(f"backend {config['lithops']['backend']} is not a standalone backend: lithops attach "
                          f"opens a shell on the VMs of standalone backends built on lithops.standalone (such as "
                          f"vm). Pick one with --backend.")
    try:
        vm = compute.find_vm(name)
        command = compute.provider.shell_command(vm)
    finally:
        compute.close()
    if remote is not None:
        raise SystemExit(subprocess.run([*command, remote]).returncode)
    os.execvp(command[0], command)
