"""``lithops clean``: delete Lithops' temporary objects from storage and its local state."""

from __future__ import annotations

import os
import shutil
from typing import Any

import click

from lithops.cli.common import backend_options, resolved_config
from lithops.cli.standalone import standalone_backend
from lithops.constants import CLOUDOBJECTS_PREFIX, JOBS_PREFIX


def _delete_prefix(storage: Any, prefix: str) -> int:
    keys = storage.list_keys(storage.bucket, prefix + "/")
    if keys:
        storage.delete_objects(storage.bucket, keys)
    return len(keys)


def _clean_local() -> tuple[int, int]:
    """Remove the captured call output and the job log; returns (jobs whose logs were removed, files removed)."""
    from lithops import local_state

    jobs = local_state.jobs_with_logs()
    removed = 0
    folder = local_state.logs_dir()
    running = os.path.join(folder, local_state.RUNNING_DIR)
    for job_key in jobs:
        shutil.rmtree(os.path.join(folder, job_key), ignore_errors=True)
    local_state.prune_running_logs(max_age=0)
    if os.path.isdir(running) and not os.listdir(running):
        os.rmdir(running)
    for path in (local_state.jobs_file(), local_state.jobs_file() + ".1"):
        if os.path.exists(path):
            os.unlink(path)
            removed += 1
    local_state.list_workers()  # drops the registrations of workers that are gone
    return len(jobs), removed


def _clean_compute(config: dict[str, Any]) -> list[str]:
    """What the configured compute backend's crashed executors left on its platform, deleted by its
    ``clean_leftovers`` (a backend that does not override it is not built).
    """
    from lithops.backends.compute import ComputeBackend
    from lithops.plugins.manager import get_registry
    from lithops.storage.job_storage import JobStorage

    name = config["lithops"]["backend"]
    cls = get_registry().load_class("compute", name)
    if getattr(cls, "clean_leftovers", None) is ComputeBackend.clean_leftovers:
        return []
    backend = cls(config.get(name) or {}, config, storage=JobStorage.from_config(config))
    try:
        return list(backend.clean_leftovers())
    finally:
        backend.close()


@click.command("clean")
@backend_options
@click.option("--all", "-a", "everything", is_flag=True,
              help="Also delete the objects of lithops.Storage.put_cloudobject, the backend's deployed runtimes "
                   "and a standalone backend's VMs.")
def clean(backend: str | None, storage: str | None, everything: bool) -> None:
    """Delete temporary job objects from storage, and the local logs and job list.

    Jobs that are still running lose their data: run it when none are.
    """
    from lithops.config import extract_storage_config
    from lithops.plugins.manager import get_registry
    from lithops.storage.storage import Storage

    config = resolved_config(backend, storage)
    client = Storage(storage_config=extract_storage_config(config))
    where = f"bucket {client.bucket} ({client.backend})"
    n = _delete_prefix(client, JOBS_PREFIX)
    click.echo(f"Deleted {n} object(s) under {JOBS_PREFIX}/ in {where}.")
    for line in _clean_compute(config):
        click.echo(line)
    if everything:
        n = _delete_prefix(client, CLOUDOBJECTS_PREFIX)
        click.echo(f"Deleted {n} object(s) under {CLOUDOBJECTS_PREFIX}/ in {where}.")
        name = config["lithops"]["backend"]
        registry = get_registry()
        if name in registry.names("runtime"):
            builder = registry.load_class("runtime", name)(config[name], config)
            deployed = builder.list()
            for rt in deployed:
                builder.delete(rt["runtime_name"], rt.get("memory"))
            click.echo(f"Deleted {len(deployed)} deployed runtime(s) of backend {name}.")
        compute = standalone_backend(config)
        if compute is not None:
            try:
                vms = compute.clean_all()
            finally:
                compute.close()
            names = f"{': ' + ', '.join(vm.name for vm in vms) if vms else ''}"
            if compute.mode == "consume":
                click.echo(f"Gave back {len(vms)} VM(s) of backend {name}, which Lithops did not make (their agents "
                           f"stopped and removed, the VMs kept){names}.")
            else:
                click.echo(f"Removed {len(vms)} VM(s) of backend {name}{names}.")
    jobs, files = _clean_local()
    click.echo(f"Removed the local logs of {jobs} job(s) and {'the' if files else 'no'} local job list.")
