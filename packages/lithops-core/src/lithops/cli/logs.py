"""``lithops logs get|poll``: what calls printed, as kept on this machine (see :mod:`lithops.local_state`)."""

from __future__ import annotations

import os
import time

import click

from lithops.cli.common import CliError, debug_option


def _show(job_key: str, call_id: str, path: str) -> None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:  # removed meanwhile (lithops clean)
        return
    text = data.decode("utf-8", errors="replace")
    click.echo(f"=== {job_key} call {call_id} ===")
    click.echo(text, nl=not text.endswith("\n"))


@click.group("logs")
def logs() -> None:
    """Show what calls printed (their stdout and stderr)."""


@logs.command("get")
@click.argument("job_key")
@click.option("--call", "call_id", help="Only this call (e.g. 00003).")
@debug_option
def get(job_key: str, call_id: str | None) -> None:
    """Print the output of each call of job JOB_KEY (as shown by 'lithops job list')."""
    from lithops import local_state

    files = local_state.job_call_logs(job_key)
    if call_id is not None:
        files = [(c, p) for c, p in files if c == call_id or c.lstrip("0") == call_id.lstrip("0")]
    if files:
        for cid, path in files:
            _show(job_key, cid, path)
        return
    known = any(j["job_key"] == job_key for j in local_state.read_jobs())
    if known or os.path.isdir(local_state.job_logs_dir(job_key)):
        which = f"call {call_id} of job {job_key}" if call_id else f"the calls of job {job_key}"
        click.echo(f"No output: {which} printed nothing" + ("." if known else " (or are still running)."))
        return
    raise CliError(
        f"no job {job_key} on this machine (logs are kept under {local_state.logs_dir()}). 'lithops job list' "
        f"shows the jobs submitted here; 'lithops clean' removes their logs."
    )


@logs.command("poll")
@click.option("--interval", default=0.5, show_default=True, type=float, help="Seconds between looks.")
@debug_option
def poll(interval: float) -> None:
    """Print the output of each call as it finishes, until Ctrl-C."""
    from lithops import local_state

    root = local_state.logs_dir()
    seen: set[str] = set()
    scanned: dict[str, float] = {}

    def scan(show: bool) -> None:
        try:
            jobs = [e for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")]
        except OSError:
            return
        for job in sorted(jobs, key=lambda e: e.stat().st_mtime):
            try:
                mtime = job.stat().st_mtime
            except OSError:
                continue
            if scanned.get(job.path) == mtime and time.time() - mtime > 2:
                continue  # no file was added since the last look (recent folders: timestamps may be coarse)
            scanned[job.path] = mtime
            try:
                files = sorted((e for e in os.scandir(job.path) if e.name.endswith(".log")),
                               key=lambda e: (e.stat().st_mtime, e.name))
            except OSError:
                continue
            for entry in files:
                if entry.path in seen:
                    continue
                seen.add(entry.path)
                if show:
                    _show(job.name, entry.name[:-4], entry.path)

    scan(show=False)  # like tail -f: only what comes from now on
    click.echo(f"Waiting for call output under {root} (Ctrl-C to stop).", err=True)
    try:
        while True:
            time.sleep(interval)
            scan(show=True)
    except KeyboardInterrupt:
        pass
