"""``lithops worker list``: the worker processes running on this machine (registered by their backend)."""

from __future__ import annotations

import time

import click

from lithops.cli.common import debug_option, duration, local_time, table


@click.group("worker")
def worker() -> None:
    """Worker processes on this machine."""


@worker.command("list")
@click.option("--backend", "-b", help="Only workers of this backend.")
@debug_option
def list_workers(backend: str | None) -> None:
    """List the live worker processes of backends that run them here (localhost)."""
    from lithops import local_state

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
