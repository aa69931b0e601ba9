"""Execution plots of finished calls, as PNG images: a timeline of each call and how many calls ran at once;
and the per-job summary table (``FunctionExecutor.job_summary``), optionally written as CSV.

``FunctionExecutor.plot()`` draws both plots; :func:`create_timeline` and :func:`create_histogram` take any futures.
They need matplotlib (``pip install 'lithops-core[plot]'``), imported only here and without touching pyplot's
global state, so plotting from a notebook or a script with its own matplotlib setup changes nothing there.
"""

from __future__ import annotations

import csv
import itertools
import os
import time
from collections.abc import Iterable
from typing import Any

from lithops.futures import ResponseFuture

#: Timestamps drawn on the timeline as markers: stats key, legend label, marker, colour. (The function's own
#: start and end are the ends of each call's bar.)
TIMELINE_MARKS = (
    ("host_submit_tstamp", "submitted", "|", "#555555"),
    ("worker_start_tstamp", "call start (in the worker)", "o", "#2ca02c"),
    ("worker_end_tstamp", "call done (in the worker)", "s", "#d62728"),
    ("host_status_done_tstamp", "status received", "x", "#9467bd"),
    ("host_result_done_tstamp", "result read", "+", "#8c564b"),
)
#: Bins of the histogram's count of running calls.
HISTOGRAM_SAMPLES = 300


def _figure(figsize: tuple[float, float]) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ModuleNotFoundError(
            "plotting needs matplotlib, which is not installed. Install it with: pip install 'lithops-core[plot]'",
            name="matplotlib",
        ) from None
    return Figure(figsize=figsize, dpi=100)


def plottable(fs: ResponseFuture | Iterable[ResponseFuture]) -> list[ResponseFuture]:
    """The futures that can be drawn: finished calls whose worker reported start and end times."""
    futures = [fs] if isinstance(fs, ResponseFuture) else list(fs)
    return [f for f in futures if f.finished and "worker_start_tstamp" in f.stats and "worker_end_tstamp" in f.stats]


def _destination(dst: str | None, kind: str) -> str:
    if dst is None:
        path = os.path.join(os.getcwd(), "plots", f"{int(time.time())}_{kind}.png")
    else:
        path = f"{os.path.realpath(os.path.expanduser(dst))}_{kind}.png"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def _origin(futures: list[ResponseFuture]) -> float:
    stamps = [f.stats.get("host_submit_tstamp") or f.stats["worker_start_tstamp"] for f in futures]
    return float(min(stamps))


def _title(kind: str, futures: list[ResponseFuture]) -> str:
    jobs = len({f.job_key for f in futures})
    failed = sum(1 for f in futures if f.error)
    text = f"{kind}: {len(futures)} call{'s' if len(futures) != 1 else ''}"
    text += f" in {jobs} jobs" if jobs > 1 else f" of job {futures[0].job_key}"
    return text + (f", {failed} failed" if failed else "")


def _start(fs: Iterable[ResponseFuture], figsize: tuple[float, float]) -> tuple[list[ResponseFuture], Any, Any, float]:
    """The plottable futures, a figure with one axes, and the time origin (the first submission)."""
    futures = plottable(fs)
    if not futures:
        raise ValueError("no finished calls with timing statistics to plot; wait for the calls first.")
    fig = _figure(figsize)
    return futures, fig, fig.add_subplot(1, 1, 1), _origin(futures)


def create_timeline(fs: Iterable[ResponseFuture], dst: str | None = None,
                    figsize: tuple[float, float] = (10, 6)) -> str:
    """Draw when each call was submitted, started, ran its function, ended and was collected.

    One row per call (in the order given), time in seconds since the first submission on the x axis; a bar
    spans each call's function execution (red for failed calls). Writes ``<dst>_timeline.png`` (``dst`` None:
    ``./plots/<unix time>_timeline.png``) and returns its path.
    """
    futures, fig, ax, t0 = _start(fs, figsize)
    n = len(futures)
    rows = list(range(n))
    # the function's run as a bar per call: thick enough to see with few calls, thin with many
    width = max(0.5, min(6.0, 300.0 / n))
    for colour, failed in (("#1f77b4", False), ("#d62728", True)):
        segments = [(i, f) for i, f in zip(rows, futures, strict=True) if f.error == failed
                    and "worker_func_start_tstamp" in f.stats and "worker_func_end_tstamp" in f.stats]
        if segments:
            ax.hlines([i for i, _ in segments], [f.stats["worker_func_start_tstamp"] - t0 for _, f in segments],
                      [f.stats["worker_func_end_tstamp"] - t0 for _, f in segments], colors=colour,
                      linewidth=width, alpha=0.35, label="function running" + (" (failed)" if failed else ""))
    size = max(4.0, min(40.0, 2000.0 / n))
    for key, label, marker, colour in TIMELINE_MARKS:
        points = [(f.stats[key] - t0, i) for i, f in zip(rows, futures, strict=True) if key in f.stats]
        if points:
            ax.scatter([x for x, _ in points], [y for _, y in points], s=size * (2 if marker == "|" else 1),
                       marker=marker, color=colour, label=label, linewidths=1.5 if marker in "|x+" else 0.5,
                       zorder=3)
    ax.set_xlabel("seconds since the first submission")
    ax.set_ylabel("call")
    ax.set_ylim(-0.5 - n * 0.02, n - 0.5 + n * 0.02)
    ax.set_xlim(left=min(0.0, ax.get_xlim()[0]))
    ax.invert_yaxis()  # the first call on top, like a Gantt chart
    if n <= 30:
        ax.set_yticks(rows)
        ax.set_yticklabels([f.call_id if len({g.job_key for g in futures}) == 1 else f"{f.job_id}/{f.call_id}"
                            for f in futures], fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.set_title(_title("Execution timeline", futures))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    path = _destination(dst, "timeline")
    fig.savefig(path)
    return path


def _running_per_bin(intervals: list[tuple[float, float]], edges: list[float]) -> list[int]:
    """The most calls running at once within each bin ``[edges[k], edges[k + 1])``.

    Taking the most (not a sample) keeps a call that ends just as the next one starts in the same worker from
    showing as a dip, and never shows more calls than really overlapped.
    """
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])  # ends first on ties
    running, i, most = 0, 0, []
    for lo, hi in itertools.pairwise(edges):
        while i < len(events) and events[i][0] <= lo:  # what is running at the bin's start
            running += events[i][1]
            i += 1
        peak = running
        while i < len(events) and events[i][0] < hi:
            running += events[i][1]
            peak = max(peak, running)
            i += 1
        most.append(peak)
    return most


def create_histogram(fs: Iterable[ResponseFuture], dst: str | None = None,
                     figsize: tuple[float, float] = (10, 6)) -> str:
    """Draw each call's run in its worker as a line, and how many calls were running at each moment.

    Writes ``<dst>_histogram.png`` (``dst`` None: ``./plots/<unix time>_histogram.png``) and returns its path.
    """
    futures, fig, ax, t0 = _start(fs, figsize)
    n = len(futures)
    intervals = [(f.stats["worker_start_tstamp"] - t0, f.stats["worker_end_tstamp"] - t0) for f in futures]
    end = max(e for _, e in intervals) or 1.0
    ax.hlines(list(range(n)), [s for s, _ in intervals], [e for _, e in intervals], colors="#444444",
              linewidth=max(0.4, min(3.0, 150.0 / n)), alpha=0.55, label="one call, from start to end in its worker")
    ax.set_xlim(0, end * 1.03)
    ax.set_ylim(-0.5, n - 0.5 + max(1.0, n * 0.05))
    ax.set_xlabel("seconds since the first submission")
    ax.set_ylabel("call")
    ax.grid(True, alpha=0.3)
    # how many calls run at each moment, sampled on a fine grid (so that one call ending as the next starts
    # in the same worker does not show as a dip), on its own axis
    times = [end * k / HISTOGRAM_SAMPLES for k in range(HISTOGRAM_SAMPLES + 1)]
    running = _running_per_bin(intervals, times)
    running.append(running[-1])  # the last step spans to the end
    peak = max(running)
    ax2 = ax.twinx()
    ax2.fill_between(times, running, step="post", color="#1f77b4", alpha=0.2)
    ax2.step(times, running, where="post", color="#1f77b4", linewidth=2, label=f"calls running (at most {peak})")
    ax2.set_ylim(0, max(peak, 1) * 1.25)
    ax2.set_ylabel("calls running", color="#1f77b4")
    ax2.tick_params(axis="y", colors="#1f77b4")
    if peak <= 10:
        ax2.set_yticks(range(0, peak + 1))
    ax.set_title(_title("Execution histogram", futures))
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax2.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper left", fontsize=8)
    fig.tight_layout()
    path = _destination(dst, "histogram")
    fig.savefig(path)
    return path


def job_summary(executor_id: str, futures: Iterable[ResponseFuture], jobs: dict[str, dict[str, Any]],
                cloud_objects_n: int = 0, dst: str | None = None) -> list[dict[str, Any]]:
    """One row per job of ``futures``: function, calls, finished, failed, memory, the summed and the average
    function time in seconds (``jobs``: job id -> its ``function`` and ``runtime_memory``).

    With ``dst``, the rows are also written to that CSV file, followed by a ``Summary`` row of totals whose
    ``cloud_objects`` column is ``cloud_objects_n``.
    """
    rows: dict[str, dict[str, Any]] = {}
    timed: dict[str, int] = {}  # job id -> calls that report a function time
    for f in futures:
        info = jobs.get(f.job_id, {})
        row = rows.setdefault(f.job_id, {"executor_id": executor_id, "job_id": f.job_id,
                                         "function": info.get("function", ""), "calls": 0, "finished": 0,
                                         "failed": 0, "runtime_memory": info.get("runtime_memory"),
                                         "func_exec_time": 0.0, "avg_func_exec_time": 0.0})
        row["calls"] += 1
        row["finished"] += int(f.finished)
        row["failed"] += int(f.error)
        if "worker_func_exec_time" in f.stats:
            row["func_exec_time"] += float(f.stats["worker_func_exec_time"])
            timed[f.job_id] = timed.get(f.job_id, 0) + 1
    for job_id, row in rows.items():
        row["avg_func_exec_time"] = row["func_exec_time"] / timed[job_id] if timed.get(job_id) else 0.0
    if dst is not None:
        _write_summary_csv(dst, list(rows.values()), cloud_objects_n, sum(timed.values()))
    return list(rows.values())


def _write_summary_csv(dst: str, rows: list[dict[str, Any]], cloud_objects_n: int, timed: int) -> None:
    columns = ["executor_id", "job_id", "function", "calls", "finished", "failed", "runtime_memory",
               "func_exec_time", "avg_func_exec_time", "cloud_objects"]
    total_time = sum(r["func_exec_time"] for r in rows)
    summary = {"executor_id": rows[0]["executor_id"] if rows else "", "job_id": "Summary",
               "calls": sum(r["calls"] for r in rows), "finished": sum(r["finished"] for r in rows),
               "failed": sum(r["failed"] for r in rows), "func_exec_time": total_time,
               "avg_func_exec_time": total_time / timed if timed else 0.0, "cloud_objects": cloud_objects_n}
    folder = os.path.dirname(os.path.abspath(os.path.expanduser(dst)))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.expanduser(dst), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow(summary)
