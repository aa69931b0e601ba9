#!/usr/bin/env python
"""``lithops.multiprocessing.Pool().map`` over 1,000 no-op items against ``multiprocessing.Pool``, in one run.

Target (from the issue that asked for lithops.multiprocessing): at most 3x the standard library. Three rows:

1. ``with Pool() as p: p.map(noop, range(N))`` - a whole pool life (create, map, terminate), as code written for
   the standard library does it. Repeated in this process: our first pool of a process starts the worker
   processes (reported on its own as "first pool"); later pools find them warm (lithops.multiprocessing keeps
   the localhost workers of a pool size until exit). The median is over the later runs.
2. ``p.map(noop, range(N))`` on a pool already created and used once (both sides warm).
3. The same as 1 in a fresh Python process: ``import`` excluded, everything else included (our workers start
   from nothing: new interpreters that import Lithops). Median over ``--cold`` fresh processes.

Run: ``python benchmarks/bench_multiprocessing.py [--repeat 15] [--items 1000] [--cold 3] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

TARGET = 3.0


def noop(x: Any) -> Any:
    return x


def whole_pool(module: Any, items: int) -> float:
    start = time.perf_counter()
    with module.Pool() as pool:
        pool.map(noop, range(items))
    return time.perf_counter() - start


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cold_child(kind: str, items: int) -> None:
    """In a fresh process: time the first ``with Pool() as p: p.map(...)``."""
    if kind == "lithops":
        import lithops.multiprocessing as module
    else:
        module = multiprocessing
    print(json.dumps({"seconds": whole_pool(module, items)}), flush=True)


def run_cold(kind: str, items: int) -> float:
    here = os.path.abspath(__file__)
    code = f"import sys; sys.path.insert(0, {os.path.dirname(here)!r}); import bench_multiprocessing as b; " \
           f"b.cold_child({kind!r}, {items})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of rows 1 and 2 (default 15); medians shown")
    parser.add_argument("--items", type=int, default=1000, help="items mapped (default 1000)")
    parser.add_argument("--cold", type=int, default=3, help="fresh processes for row 3 (default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write every run as JSON to PATH")
    args = parser.parse_args()
    if not os.environ.get("LITHOPS_CONFIG_FILE"):  # a personal ~/.lithops/config must not change what is measured
        fd, path = tempfile.mkstemp(suffix=".yaml")
        os.close(fd)
        os.environ["LITHOPS_CONFIG_FILE"] = path

    import lithops.multiprocessing as lmp

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"Pool() = {lmp.cpu_count()} processes on both sides; {args.items} no-op items")
    print(f"target: lithops.multiprocessing at most {TARGET:g}x multiprocessing.Pool")

    runs: dict[str, list[float]] = {k: [] for k in ("pool_ours", "pool_std", "map_ours", "map_std")}
    first = whole_pool(lmp, args.items)
    for _ in range(args.repeat):
        runs["pool_std"].append(whole_pool(multiprocessing, args.items))
        runs["pool_ours"].append(whole_pool(lmp, args.items))
    with lmp.Pool() as ours, multiprocessing.Pool() as std:
        ours.map(noop, range(8))
        std.map(noop, range(8))
        for _ in range(args.repeat):
            runs["map_std"].append(timed(lambda: std.map(noop, range(args.items))))
            runs["map_ours"].append(timed(lambda: ours.map(noop, range(args.items))))
    runs["cold_std"] = [run_cold("stdlib", args.items) for _ in range(args.cold)]
    runs["cold_ours"] = [run_cold("lithops", args.items) for _ in range(args.cold)]

    rows = [
        ("with Pool() as p: p.map(...)  (warm workers)", "pool"),
        ("p.map(...) on a live pool", "map"),
        ("first Pool in a fresh process (cold)", "cold"),
    ]
    print(f"\n{'case':<46} {'lithops (s)':>12} {'stdlib (s)':>11} {'ratio':>7}")
    table = []
    for label, key in rows:
        ours_s, std_s = statistics.median(runs[f"{key}_ours"]), statistics.median(runs[f"{key}_std"])
        ratio = ours_s / std_s
        verdict = "" if key == "cold" else ("  ok" if ratio <= TARGET else "  over target")
        print(f"{label:<46} {ours_s:>12.4f} {std_s:>11.4f} {ratio:>6.2f}x{verdict}")
        table.append({"case": label, "lithops_s": ours_s, "stdlib_s": std_s, "ratio": ratio})
    print(f"{'first Pool of this process (not in medians)':<46} {first:>12.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"python": sys.version, "cpus": os.cpu_count(), "items": args.items, "rows": table,
                       "first_pool_s": first, "runs": runs}, fh, indent=2)


if __name__ == "__main__":
    main()
