#!/usr/bin/env python
"""Benchmarks of the localhost backend, each case run against ``concurrent.futures.ProcessPoolExecutor``.

Run ``python benchmarks/bench_localhost.py --help``; see benchmarks/README.md for what each case measures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

MIB = 1024 * 1024
TASK_SEC = 0.25

TARGETS = {
    "1": "map of 1,000 no-op tasks: fexec.map(noop, range(1000)); fexec.get_result() "
         "at most 3x ProcessPoolExecutor (list(pool.map(noop, range(1000))))",
    "2": "map of 100,000 no-op tasks must finish, time growing linearly; driver peak RSS reported",
    "3": "FunctionExecutor() + call_async(hello).result() in a fresh process under 0.3 s after import lithops",
    "4": "40 CPU-bound tasks of 0.25 s on 2 workers within 1.15x of the ideal 5 s",
    "5": "100 tasks with a 1 MiB bytes argument each (returns len) at most 2x ProcessPoolExecutor",
}


# -- the functions the benchmarks run (module level, so ProcessPoolExecutor can pickle them) ----------------
def noop(x: Any) -> Any:
    return x


def hello(name: str) -> str:
    return f"hello {name}"


def burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def size_of(data: bytes) -> int:
    return len(data)


# -- helpers ------------------------------------------------------------------------------------------------
def new_executor(workers: int) -> Any:
    import lithops

    return lithops.FunctionExecutor(log_level=None, worker_processes=workers)


def warm_up(fexec: Any, pool: ProcessPoolExecutor, workers: int) -> None:
    """Start every worker of both pools before anything is timed."""
    fexec.map(noop, range(4 * workers))
    fexec.get_result()
    list(pool.map(noop, range(4 * workers)))


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def calibrate_burn(seconds: float) -> int:
    """Iterations of :func:`burn` that take about ``seconds`` on this machine.

    The fastest of several probes is used: a probe slowed down by another process would make the tasks short.
    """
    probe = 500_000
    burn(probe)
    rates = [probe / timed(lambda: burn(probe)) for _ in range(9)]
    return int(max(rates) * seconds)


def run_child(args: list[str], workers: int) -> dict[str, Any]:
    """Run this script in a fresh interpreter in child mode; return the JSON it prints."""
    cmd = [sys.executable, os.path.abspath(__file__), "--workers", str(workers), "--child", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def median(values: list[float]) -> float:
    return statistics.median(values)


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait, total


class Idle:
    """Waits, before each timed run, until the machine's CPUs are idle (Linux only; off unless asked for)."""

    def __init__(self, max_busy: float | None, max_wait: float = 300.0) -> None:
        self.max_busy = max_busy
        self.max_wait = max_wait
        self.waited = 0.0
        self.gave_up = 0

    def busy(self, interval: float = 0.5) -> float:
        idle0, total0 = _cpu_times()
        time.sleep(interval)
        idle1, total1 = _cpu_times()
        return 1.0 - (idle1 - idle0) / max(1, total1 - total0)

    def settle(self) -> None:
        if self.max_busy is None or not os.path.exists("/proc/stat"):
            return
        start = time.monotonic()
        quiet = 0
        while quiet < 2:  # two quiet samples in a row
            if time.monotonic() - start > self.max_wait:
                self.gave_up += 1
                break
            quiet = quiet + 1 if self.busy() <= self.max_busy else 0
        self.waited += time.monotonic() - start


IDLE = Idle(None)


def pairs(repeat: int, ours: Callable[[], Any], base: Callable[[], Any]) -> tuple[list[Any], list[Any]]:
    """Run ``ours`` and ``base`` alternately ``repeat`` times each (after waiting for idle CPUs if asked)."""
    out_ours, out_base = [], []
    for _ in range(repeat):
        IDLE.settle()
        out_ours.append(ours())
        IDLE.settle()
        out_base.append(base())
    return out_ours, out_base


def peak_rss_mib() -> float:
    """Peak resident memory of this process (not its workers), in MiB.

    On Linux this is VmHWM: ru_maxrss survives exec, so a child started by a big parent would report the
    parent's peak.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / MIB


def children_cpu_s() -> float | None:
    """CPU seconds (user and system) used so far by the live child processes of this one (the workers), from
    ``/proc`` (Linux); None elsewhere.
    """
    if not os.path.exists("/proc/self/stat"):
        return None
    me, total = os.getpid(), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == me:  # fields after the name: state, ppid, ..., utime (12th), stime (13th)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU time of this process (all its threads) and of its workers over a timed run."""

    def __init__(self) -> None:
        self.driver = time.process_time()
        self.workers = children_cpu_s()

    def stop(self, result: dict[str, Any]) -> None:
        result["driver_cpu_s"] = time.process_time() - self.driver
        workers = children_cpu_s()
        result["workers_cpu_s"] = None if workers is None or self.workers is None else workers - self.workers


# -- child mode: one measurement in a fresh process -----------------------------------------------------
def child_main(kind: str, param: str, workers: int) -> None:
    """Print one JSON line. Kinds: ``hello-{ours,ppe}``, ``cold-map-{ours,ppe} N``, ``warm-map-{ours,ppe} N``."""
    result: dict[str, Any] = {}
    if kind.endswith("-ours"):
        start = time.perf_counter()
        import lithops  # noqa: F401 - the import is part of what is measured

        result["import_s"] = time.perf_counter() - start
    rss_start = peak_rss_mib()
    if kind == "hello-ours":
        start = time.perf_counter()
        fexec = new_executor(workers)
        value = fexec.call_async(hello, "world").result()
        result["time_s"] = time.perf_counter() - start
        assert value == "hello world", value
    elif kind == "hello-ppe":
        start = time.perf_counter()
        pool = ProcessPoolExecutor(workers)
        value = pool.submit(hello, "world").result()
        result["time_s"] = time.perf_counter() - start
        assert value == "hello world", value
        pool.shutdown()
    elif kind in ("cold-map-ours", "warm-map-ours"):
        n = int(param)
        start = time.perf_counter()
        fexec = new_executor(workers)
        if kind == "warm-map-ours":
            fexec.map(noop, range(4 * workers))
            fexec.get_result()
            start = time.perf_counter()
        cpu = CpuMeter()
        fexec.map(noop, range(n))
        values = fexec.get_result()
        result["time_s"] = time.perf_counter() - start
        cpu.stop(result)
        assert len(values) == n and values[-1] == n - 1
    elif kind in ("cold-map-ppe", "warm-map-ppe"):
        n = int(param)
        start = time.perf_counter()
        pool = ProcessPoolExecutor(workers)
        if kind == "warm-map-ppe":
            list(pool.map(noop, range(4 * workers)))
            start = time.perf_counter()
        cpu = CpuMeter()
        values = list(pool.map(noop, range(n)))
        result["time_s"] = time.perf_counter() - start
        cpu.stop(result)
        assert len(values) == n and values[-1] == n - 1
        pool.shutdown()
    else:
        raise SystemExit(f"unknown child kind {kind!r}")
    result["start_rss_mib"] = rss_start
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result), flush=True)


# -- the cases ------------------------------------------------------------------------------------------
class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, case: str, what: str, ours: float | None, base: float | None, unit: str = "s",
            ratio: float | None = None, target: str = "", met: bool | None = None, **extra: Any) -> None:
        if ratio is None and ours is not None and base:
            ratio = ours / base
        row = {"case": case, "what": what, "ours": ours, "baseline": base, "unit": unit, "ratio": ratio,
               "target": target, "met": met, **extra}
        self.rows.append(row)
        print(f"  case {case}: {what}: ours {fmt(ours, unit)}  baseline {fmt(base, unit)}  ratio {fmt(ratio, 'x')}"
              f"{'' if met is None else ('  MET' if met else '  MISSED')}", flush=True)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "us":
        return f"{value:.1f} us"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g} {unit}"


def case_1(report: Report, repeat: int, workers: int) -> None:
    fexec = new_executor(workers)
    with ProcessPoolExecutor(workers) as pool:
        warm_up(fexec, pool, workers)
        ours, base = pairs(repeat, lambda: timed(lambda: (fexec.map(noop, range(1000)), fexec.get_result())),
                           lambda: timed(lambda: list(pool.map(noop, range(1000)))))
    fexec.close()
    o, b = median(ours), median(base)
    report.add("1", "map 1,000 no-op, warm", o, b, target="<= 3x PPE", met=o <= 3 * b, runs=ours, baseline_runs=base)
    cold_o, cold_b = pairs(repeat, lambda: run_child(["cold-map-ours", "1000"], workers)["time_s"],
                           lambda: run_child(["cold-map-ppe", "1000"], workers)["time_s"])
    report.add("1", "map 1,000 no-op, cold (incl. executor creation, fresh process)", median(cold_o),
               median(cold_b), target="(noted, no target)", runs=cold_o, baseline_runs=cold_b)


def case_2(report: Report, repeat: int, workers: int, sizes: list[int]) -> None:
    per_task: dict[int, float] = {}
    for n in sizes:
        ours, base = pairs(repeat, lambda: run_child(["warm-map-ours", str(n)], workers),  # noqa: B023
                           lambda: run_child(["warm-map-ppe", str(n)], workers))  # noqa: B023
        o, b = median([r["time_s"] for r in ours]), median([r["time_s"] for r in base])
        per_task[n] = o / n
        report.add("2", f"map {n:,} no-op, warm", o, b, runs=[r["time_s"] for r in ours],
                   baseline_runs=[r["time_s"] for r in base])
        report.add("2", f"map {n:,} no-op, time per task", o / n * 1e6, b / n * 1e6, unit="us")
        for part, key in (("driver", "driver_cpu_s"), ("workers'", "workers_cpu_s")):
            if all(r.get(key) is not None for r in ours + base):
                report.add("2", f"map {n:,} no-op, {part} CPU per task", median([r[key] for r in ours]) / n * 1e6,
                           median([r[key] for r in base]) / n * 1e6, unit="us")
        report.add("2", f"map {n:,} no-op, driver peak RSS", max(r["peak_rss_mib"] for r in ours),
                   max(r["peak_rss_mib"] for r in base), unit="MiB",
                   start_rss_mib=median([r["start_rss_mib"] for r in ours]),
                   baseline_start_rss_mib=median([r["start_rss_mib"] for r in base]))
    smallest, largest = min(per_task), max(per_task)
    growth = per_task[largest] / per_task[smallest]
    report.add("2", f"per-task time at {largest:,} / at {smallest:,} (1.0 = linear)", growth, None, unit="x",
               ratio=growth, target="finishes; <= 1.5 (linear)", met=growth <= 1.5)


def case_3(report: Report, repeat: int, workers: int) -> None:
    ours, base = pairs(repeat, lambda: run_child(["hello-ours", "-"], workers),
                       lambda: run_child(["hello-ppe", "-"], workers))
    o, b = median([r["time_s"] for r in ours]), median([r["time_s"] for r in base])
    report.add("3", "fresh process: FunctionExecutor() + call_async(hello).result(), after import", o, b,
               target="< 0.3 s", met=o < 0.3, runs=[r["time_s"] for r in ours],
               baseline_runs=[r["time_s"] for r in base])
    report.add("3", "fresh process: import lithops (not part of the target)",
               median([r["import_s"] for r in ours]), None)


def case_4(report: Report, repeat: int, workers: int, tasks: int = 40) -> None:
    IDLE.settle()
    n = calibrate_burn(TASK_SEC)
    single = median([timed(lambda: burn(n)) for _ in range(3)])
    ideal = math.ceil(tasks / workers) * TASK_SEC
    fexec = new_executor(workers)
    with ProcessPoolExecutor(workers) as pool:
        warm_up(fexec, pool, workers)
        ours, base, task_times, overhead = [], [], [], []
        for _ in range(repeat):
            IDLE.settle()
            ours.append(timed(lambda: (fexec.map(burn, [n] * tasks), fexec.get_result())))
            run_times = [f.stats["worker_func_exec_time"] for f in fexec.futures[-tasks:]]
            task_times += run_times
            overhead.append(ours[-1] / (sum(run_times) / workers))
            IDLE.settle()
            base.append(timed(lambda: list(pool.map(burn, [n] * tasks))))
    fexec.close()
    o, b = median(ours), median(base)
    report.add("4", f"{tasks} CPU-bound tasks of {TASK_SEC} s (burn({n:,}), one alone took {single:.3f} s)", o, b,
               runs=ours, baseline_runs=base)
    report.add("4", f"ours / ideal {ideal:g} s", o, ideal, target="<= 1.15x ideal", met=o <= 1.15 * ideal)
    report.add("4", f"PPE / ideal {ideal:g} s", b, ideal)
    report.add("4", f"best run, ours vs PPE (ideal {ideal:g} s)", min(ours), min(base))
    # A task that ran longer in a worker than alone shows CPU contention (another process), not dispatch overhead.
    report.add("4", "median task time inside our workers (vs 0.25 s alone)", median(task_times), None)
    report.add("4", "ours / (sum of task times inside our workers / workers)", median(overhead), None, unit="x",
               ratio=median(overhead))


def case_5(report: Report, repeat: int, workers: int, tasks: int = 100) -> None:
    blob = os.urandom(MIB)
    fexec = new_executor(workers)
    with ProcessPoolExecutor(workers) as pool:
        warm_up(fexec, pool, workers)
        ours, base = pairs(repeat, lambda: timed(lambda: (fexec.map(size_of, [blob] * tasks), fexec.get_result())),
                           lambda: timed(lambda: list(pool.map(size_of, [blob] * tasks))))
    fexec.close()
    o, b = median(ours), median(base)
    report.add("5", f"{tasks} tasks with a 1 MiB bytes argument", o, b, target="<= 2x PPE", met=o <= 2 * b,
               runs=ours, baseline_runs=base)


def print_table(report: Report) -> None:
    headers = ["case", "measure", "ours", "baseline", "ratio", "target", "result"]
    lines = []
    for r in report.rows:
        lines.append([r["case"], r["what"], fmt(r["ours"], r["unit"]),
                      fmt(r["baseline"], r["unit"]) if r["unit"] != "x" else "-", fmt(r["ratio"], "x"),
                      r["target"], "" if r["met"] is None else ("met" if r["met"] else "MISSED")])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    print()
    print("Medians; baseline = concurrent.futures.ProcessPoolExecutor with the same number of workers; "
          "ratio = ours / baseline (ideal for case 4's ideal rows).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement; medians are shown")
    parser.add_argument("--cases", default="1,2,3,4,5", help="comma-separated case numbers (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of both executors (default 2)")
    parser.add_argument("--sizes", default="10000,50000,100000", help="map sizes of case 2")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--wait-idle", type=float, metavar="FRACTION", nargs="?", const=0.15, default=None,
                        help="before each timed run, wait (up to 5 min) until the CPUs are at most FRACTION busy "
                             "(default 0.15) for a second: for machines shared with other work (Linux only)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        child_main(args.child[0], args.child[1], args.workers)
        return

    if not os.environ.get("LITHOPS_CONFIG_FILE"):
        # An empty config file, so a user's ~/.lithops/config does not change what is measured.
        handle, path = tempfile.mkstemp(prefix="lithops-bench-", suffix=".yaml")
        os.close(handle)
        os.environ["LITHOPS_CONFIG_FILE"] = path

    IDLE.max_busy = args.wait_idle
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in TARGETS]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.workers} workers; repeat {args.repeat}")
    print("Targets (from the issue):")
    for c in cases:
        print(f"  {c}. {TARGETS[c]}")
    report = Report()
    started = time.perf_counter()
    for c in cases:
        print(f"case {c} ... (load average {os.getloadavg()[0]:.2f})", flush=True)
        if c == "1":
            case_1(report, args.repeat, args.workers)
        elif c == "2":
            case_2(report, args.repeat, args.workers, [int(s) for s in args.sizes.split(",")])
        elif c == "3":
            case_3(report, args.repeat, args.workers)
        elif c == "4":
            case_4(report, args.repeat, args.workers)
        elif c == "5":
            case_5(report, args.repeat, args.workers)
    print_table(report)
    print(f"total {time.perf_counter() - started:.0f} s")
    if IDLE.max_busy is not None:
        print(f"waited {IDLE.waited:.0f} s for idle CPUs (at most {IDLE.max_busy:.0%} busy); "
              f"{IDLE.gave_up} run(s) started without them")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"python": sys.version, "cpus": os.cpu_count(), "workers": args.workers,
                       "repeat": args.repeat, "wait_idle": args.wait_idle, "idle_gave_up": IDLE.gave_up,
                       "targets": {c: TARGETS[c] for c in cases}, "rows": report.rows},
                      fh, indent=2)


if __name__ == "__main__":
    main()
