"""fexec.plot() (timeline and histogram PNGs, matplotlib optional) and job_summary() as CSV."""

import csv
import os
import struct
import subprocess
import sys
import time

import pytest

from lithops.plots import _running_per_bin


def nap(x):
    time.sleep(0.05 * (1 + x % 3))
    if x == 5:
        raise ValueError("five")
    return x


def total(results):
    return sum(results)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_plot_writes_a_timeline_and_a_histogram(fexec, tmp_path):
    pytest.importorskip("matplotlib")
    futures = fexec.map(nap, range(12))
    fexec.get_result(futures, throw_except=False)
    fexec.map_reduce(nap, range(4), total).get_result()
    paths = fexec.plot(dst=str(tmp_path / "run"))
    assert paths == [str(tmp_path / "run_timeline.png"), str(tmp_path / "run_histogram.png")]
    for path in paths:
        assert png_size(path) == (1000, 600)  # figsize (10, 6) at 100 dpi
        assert os.path.getsize(path) > 20_000  # something was drawn
    small = fexec.plot(futures[:3], dst=str(tmp_path / "three"), figsize=(6, 4))
    assert [png_size(p) for p in small] == [(600, 400), (600, 400)]


def test_plot_defaults_to_a_plots_folder(fexec, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    fexec.call_async(nap, 1).result()
    paths = fexec.plot()
    assert len(paths) == 2 and all(os.path.dirname(p) == str(tmp_path / "plots") for p in paths)
    assert paths[0].endswith("_timeline.png") and paths[1].endswith("_histogram.png")


def test_plot_without_finished_calls_draws_nothing(fexec, tmp_path):
    assert fexec.plot(dst=str(tmp_path / "none")) == []
    assert not list(tmp_path.iterdir())


def test_plot_without_matplotlib_names_the_extra(tmp_path):
    script = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if it were not installed\n"
        "import lithops\n"
        "with lithops.FunctionExecutor(log_level=None) as fexec:\n"
        "    fexec.call_async(abs, -1).result()\n"
        "    try:\n"
        "        fexec.plot(dst=sys.argv[1])\n"
        "    except ImportError as exc:\n"
        "        print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "p")], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, LITHOPS_STATE_DIR=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("ModuleNotFoundError plotting needs matplotlib, which is not installed. Install "
                                  "it with: pip install 'lithops-core[plot]'")


def test_calls_running_per_bin_is_the_most_at_once():
    intervals = [(0.0, 4.0), (1.0, 2.0), (2.0, 3.0), (2.5, 2.6)]
    edges = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # [0,1): 1   [1,2): 2   [2,3): one ends as one starts at 2.0, a third from 2.5: 3   [3,4): 1   [4,5): 0
    assert _running_per_bin(intervals, edges) == [1, 2, 3, 1, 0]


def test_job_summary_rows_and_csv(fexec, tmp_path):
    fexec.map(nap, range(6)).get_result(throw_except=False)
    fexec.call_async(total, [1, 2]).result()
    rows = fexec.job_summary()
    assert [(r["job_id"], r["function"], r["calls"], r["finished"], r["failed"]) for r in rows] == [
        ("M000", "nap", 6, 6, 1), ("A001", "total", 1, 1, 0)]
    assert rows[0]["func_exec_time"] > 0.3 and 0.05 < rows[0]["avg_func_exec_time"] < 0.2
    dst = tmp_path / "out" / "summary.csv"
    assert fexec.job_summary(cloud_objects_n=4, dst=str(dst)) == rows
    with open(dst, newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["executor_id", "job_id", "function", "calls", "finished", "failed", "runtime_memory",
                              "func_exec_time", "avg_func_exec_time", "cloud_objects"]
    assert [r["job_id"] for r in table] == ["M000", "A001", "Summary"]
    assert table[2]["calls"] == "7" and table[2]["failed"] == "1" and table[2]["cloud_objects"] == "4"
    assert float(table[2]["func_exec_time"]) == pytest.approx(sum(r["func_exec_time"] for r in rows))
