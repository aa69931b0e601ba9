"""``lithops job list``: the jobs submitted from this machine, from the job log executors keep."""

from __future__ import annotations

import time

import click

from lithops.cli.common import debug_option, duration, local_time, table


@click.group("job")
def job() -> None:
    """Jobs submitted from this machine."""


@job.command("list")
@click.option("--limit", "-n", default=50, show_default=True, type=int, help="Show the latest N jobs (0: all).")
@click.option("--backend", "-b", help="Only jobs of this compute backend.")
@debug_option
def list_jobs(limit: int, backend: str | None) -> None:
    """List the latest jobs: calls, how many succeeded or failed, and their status."""
    from lithops import local_state

    jobs = [j for j in local_state.read_jobs() if backend is None or j.get("backend") == backend]
    if not jobs:
        click.echo("No jobs submitted from this machine yet" + (f" on backend {backend}." if backend else "."))
        return
    shown = jobs[-limit:] if limit > 0 else jobs
    now = time.time()
    rows = []
    for j in shown:
        end = j.get("finished")
        took = (end if isinstance(end, (int, float)) else now) - (j.get("submitted") or now)
        done = "-" if j.get("succeeded") is None else str(j["succeeded"])
        failed = "-" if j.get("failed") is None else str(j["failed"])
        rows.append((j["job_key"], j.get("function", ""), j.get("backend", ""), j.get("calls", ""), done, failed,
                     j["status"], local_time(j.get("submitted")),
                     duration(took) if j["status"] != "unknown" else "-"))
    click.echo(table(["JOB KEY", "FUNCTION", "BACKEND", "CALLS", "SUCCEEDED", "FAILED", "STATUS", "SUBMITTED",
                      "DURATION"], rows))
    more = f" (the latest {len(shown)} of {len(jobs)}; -n 0 shows all)" if len(shown) < len(jobs) else ""
    click.echo(f"{len(shown)} job(s){more}. 'lithops logs get JOB_KEY' shows what a job's calls printed.")
