"""What the serverless benchmarks (bench_aws_lambda, bench_gcp_cloudrun, bench_azure_containers,
bench_ibm_code_engine) share: their common options, one measured map of N no-op calls and the printed medians.

Each benchmark only starts its local stand-ins, builds the executor config and calls ``measure``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any


def noop(x: Any) -> Any:
    return x


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every serverless benchmark takes (--calls, --repeat, --interval, --json)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--calls", default="1000", help="comma-separated numbers of calls (default 1000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per size; medians are shown (default 3)")
    p.add_argument("--interval", type=float, default=0.5, help="lithops.monitoring_interval (default 0.5)")
    p.add_argument("--json", help="also write every run to this file")
    return p


def use_empty_config() -> None:
    """Point LITHOPS_CONFIG_FILE at an empty file unless it is set, so the user's own config cannot leak in."""
    if "LITHOPS_CONFIG_FILE" not in os.environ:
        empty = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        empty.close()
        os.environ["LITHOPS_CONFIG_FILE"] = empty.name


def run_once(config: dict[str, Any], n: int) -> dict[str, Any]:
    """One executor: a warm-up map, then a measured map of `n` no-op calls; returns its figures."""
    import lithops

    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        fexec.map(noop, range(8)).get_result()  # function deployed, workers warm
        before = fexec.monitor.storage_requests
        start = time.time()
        futures = fexec.map(noop, range(n))
        submitted = time.time()
        results = fexec.get_result(futures)
        done = time.time()
        assert results == list(range(n))
        requests = fexec.monitor.storage_requests - before
        last_end = max(f.stats["worker_end_tstamp"] for f in futures)
        first_start = min(f.stats["worker_start_tstamp"] for f in futures)
        interval = float(config["lithops"]["monitoring_interval"])
    reads = 2 * n  # one status.json and one output.pickle per call
    listings = requests - reads
    return {
        "calls": n,
        "submit_s": submitted - start,
        "invoked_per_s": n / (submitted - start),
        "total_s": done - start,
        "first_start_after_submit_s": first_start - start,
        "last_finish_to_get_result_s": done - last_end,
        "storage_requests": requests,
        "status_listings": listings,
        "listings_per_poll_interval": listings / max((done - submitted) / interval, 1.0),
    }


def measure(config: dict[str, Any], n: int, repeat: int, rate_label: str = "invoked per second from the client"
            ) -> dict[str, Any]:
    """Run `repeat` measured maps of `n` calls, print their medians; return ``{"calls": n, "runs": [...]}``.

    `rate_label` names the first figure the way the backend hands calls out (invoked, sent, submitted).
    """
    runs = [run_once(config, n) for _ in range(repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"\n{n} no-op calls (median of {len(runs)} runs)")
    print(f"  {rate_label:<37}{med['invoked_per_s']:10.0f} calls/s (submit took {med['submit_s']:.2f} s)")
    print(f"  whole map, submit to get_result      {med['total_s']:10.2f} s")
    print(f"  last call finished -> get_result     {med['last_finish_to_get_result_s']:10.3f} s")
    print(f"  storage requests while waiting       {med['storage_requests']:10.0f} "
          f"(2 per call for status and output, {med['status_listings']:.0f} status listings)")
    print(f"  status listings per poll interval    {med['listings_per_poll_interval']:10.2f} "
          f"(one job: 1.00 means one listing per poll, whatever N)")
    return {"calls": n, "runs": runs}


def measure_all(config: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """:func:`measure` each N of the --calls option, --repeat times; the rows for :func:`write_json`."""
    return [measure(config, int(n), args.repeat) for n in args.calls.split(",")]


def write_json(path: str | None, rows: list[dict[str, Any]]) -> None:
    """Write every run to `path` (the --json option) when it is given."""
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=1)
