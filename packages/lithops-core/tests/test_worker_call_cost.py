"""What a warm worker process does per call: only the work a call needs, with the isolation kept.

Each test runs a dedicated worker process of its own (a child Python that declares itself one, as the localhost
worker does, and runs calls through ``CallRunner`` then ``ProcessState.restore``), and counts the system-level
operations the standard library reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lithops.job import serialize
from lithops.worker.calls import CallRunner

WORKER = textwrap.dedent("""
    import json, os, resource, signal, sys, time
    from lithops.job import serialize
    from lithops.job.status import decode_exception
    from lithops.worker.calls import CallRunner, keep_output_captured
    from lithops.worker.isolation import ProcessState

    counts = {"putenv": 0, "unsetenv": 0, "usage": 0}

    def counting(name, real):
        def wrapper(*args):
            counts[name] += 1
            return real(*args)
        return wrapper

    os.putenv = counting("putenv", os.putenv)
    os.unsetenv = counting("unsetenv", os.unsetenv)
    resource.getrusage = counting("usage", resource.getrusage)
    os.times = counting("usage", os.times)

    def step(kind, arg=None):
        if kind == "env":
            return {k: os.environ.get(k) for k in arg}
        if kind == "setenv":
            os.environ[arg] = "set by a call"
            return None
        if kind == "own_alarm_handler":
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            return None
        if kind == "sleep":
            time.sleep(arg)
            return "woke up"
        return None

    def job(job_id, extra_env=None):
        meta = {"executor_id": "cost-0", "job_id": job_id, "config": {}, "execution_timeout": 2,
                "extra_env": extra_env or {}}
        return CallRunner(meta, serialize.dumps(step))

    out = os.dup(1)  # calls' output goes to their logs: the report goes here
    keep_output_captured()
    state = ProcessState()
    runners = {"A": job("A", {"JOB_VAR": "a"}), "B": job("B")}
    report = []
    for job_id, kind, arg in json.loads(sys.argv[1]):
        before = dict(counts)
        status = runners[job_id].run("00000", serialize.dumps(((kind, arg), {})))
        broken = state.restore()
        report.append({
            "value": serialize.loads(status.output) if status.success else None,
            "error": None if status.success else type(decode_exception(status.exception)).__name__,
            "broken": broken,
            "stats": sorted(status.stats),
            **{name: counts[name] - before[name] for name in counts},
        })
    os.write(out, json.dumps(report).encode())
""")


def run_worker(steps: list[tuple[str, str, object]]) -> list[dict[str, object]]:
    """Run ``steps`` (job, kind, argument) as calls in one fresh dedicated worker process."""
    done = subprocess.run([sys.executable, "-c", WORKER, json.dumps(steps)], capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout)


ENV_NAMES = ["JOB_VAR", "LITHOPS_WORKER", "OTHER"]


@pytest.mark.timeout(90)
def test_calls_of_one_job_in_a_warm_worker_set_no_environment_variables_again() -> None:
    report = run_worker([("A", "env", ENV_NAMES), ("A", "env", ENV_NAMES), ("A", "env", ENV_NAMES)])
    assert [r["value"] for r in report] == [{"JOB_VAR": "a", "LITHOPS_WORKER": "1", "OTHER": None}] * 3
    assert report[0]["putenv"] > 0
    assert [(r["putenv"], r["unsetenv"]) for r in report[1:]] == [(0, 0), (0, 0)]
    assert all(r["broken"] is None for r in report)


@pytest.mark.timeout(90)
def test_environment_stays_isolated_between_calls_and_jobs() -> None:
    report = run_worker([
        ("A", "setenv", "OTHER"),   # a call changes the environment
        ("A", "env", ENV_NAMES),    # the next call of that job does not see it
        ("A", "setenv", "JOB_VAR"),  # a call overwrites its job's own variable
        ("A", "env", ENV_NAMES),
        ("B", "env", ENV_NAMES),    # another job does not see the first one's extra_env
        ("A", "env", ENV_NAMES),
    ])
    job_a = {"JOB_VAR": "a", "LITHOPS_WORKER": "1", "OTHER": None}
    assert [report[i]["value"] for i in (1, 3, 5)] == [job_a] * 3
    assert report[4]["value"] == {"JOB_VAR": None, "LITHOPS_WORKER": "1", "OTHER": None}


@pytest.mark.timeout(90)
def test_a_call_reads_the_process_usage_at_most_three_times() -> None:
    report = run_worker([("A", "none", None)] * 3)
    assert all(r["error"] is None for r in report)
    for r in report:  # CPU before and after the function, peak memory at the end
        assert r["usage"] <= 3, r
        assert {"worker_func_cpu_user_time", "worker_func_cpu_system_time", "worker_func_rss",
                "worker_peak_memory_start", "worker_peak_memory_end"} <= set(r["stats"])


@pytest.mark.timeout(90)
def test_the_time_limit_holds_after_a_call_replaced_the_alarm_handler() -> None:
    report = run_worker([("A", "own_alarm_handler", None), ("A", "sleep", 30), ("A", "sleep", 0)])
    assert report[1]["error"] == "FunctionTimeoutError"
    assert report[2]["value"] == "woke up"


#: Events the calls of the threads test wait for, by name (the calls' arguments are pickled).
RELEASE = {"first": threading.Event(), "second": threading.Event()}


def read_after(release: str, name: str) -> str | None:
    """Wait for ``RELEASE[release]``, then read the variable ``name``."""
    assert RELEASE[release].wait(20)
    return os.environ.get(name)


@pytest.mark.timeout(60)
def test_calls_running_at_once_in_threads_keep_their_variables_until_the_last_ends() -> None:
    name = f"LITHOPS_TEST_THREADS_{os.getpid()}"
    runner = CallRunner({"executor_id": "cost-0", "job_id": "T000", "config": {}, "extra_env": {name: "set"}},
                        serialize.dumps(read_after))
    with ThreadPoolExecutor(2) as pool:
        early = pool.submit(runner.run, "00000", serialize.dumps((("first", name), {})))
        deadline = time.monotonic() + 20
        while os.environ.get(name) != "set" and time.monotonic() < deadline:  # the first call started
            time.sleep(0.01)
        late = pool.submit(runner.run, "00001", serialize.dumps((("second", name), {})))
        time.sleep(0.2)  # the second call started too
        RELEASE["first"].set()
        assert serialize.loads(early.result(timeout=20).output) == "set"
        RELEASE["second"].set()  # the other call ended meanwhile: this one still has its variable
        assert serialize.loads(late.result(timeout=20).output) == "set"
    assert name not in os.environ
