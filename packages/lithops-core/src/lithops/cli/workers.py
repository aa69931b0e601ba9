"""``lithops worker list``: the worker processes running on this machine (registered by their backend), or the
VMs of a standalone backend and their agents.
"""

from __future__ import annotations

import time
from typing import Any

import click

from lithops.cli.common import debug_option, duration, local_time, resolved_config, table
from lithops.cli.standalone import print_vms, standalone_backend


@click.group("worker")
def worker() -> None:
    """Worker processes on this machine."""


def _standalone(backend: str | None) -> Any:
    """The standalone backend that is configured (or given), whose VMs are listed instead of local processes."""
    from lithops.errors import LithopsError

    try:
        return standalone_backend(resolved_config(backend))
    except LithopsError:
        if backend:
            raise
        return None  # the config has problems of its own: list the local workers


@worker.command("list")
@click.option("--backend", "-b", help="Only workers of this backend.")
@debug_option
def list_workers(backend: str | None) -> None:
    """List the live worker processes of backends that run them here (localhost), or the VMs of a standalone
    backend (such as vm) with their agents.
    """
    from lithops import local_state

    vms = _standalone(backend)
    if vms is not None:
        print_vms(vms)
        vms.close()
        return
    workers = local_state.list_workers(backend)
    if not workers:
        which = f"of backend {backend} " if backend else ""
        click.echo(f"No worker processes {which}are running on this machine. Backends that run workers here "
                   f"(localhost) start them with an executor's first call and stop them when it closes; cloud "
                   f"backends run theirs elsewhere.")
        return
    now = time.time()
    rows = [(w.get("pid"), w.get("backend"), w.get("client_pid"), local_time(w.get("started")),
             duration(now - w["started"]) if isinstance(w.get("started"), (int, float)) else "-", w.get("python", ""))
            for w in workers]
    click.echo(table(["PID", "BACKEND", "CLIENT PID", "STARTED", "UPTIME", "PYTHON"], rows))
    click.echo(f"{len(workers)} worker process(es).")
