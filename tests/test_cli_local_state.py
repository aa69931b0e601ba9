"""`lithops job list`, `worker list` and `logs get/poll`: from what this machine keeps (lithops.local_state)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from test_cli import LITHOPS, assert_one_line_error, lithops

SCRIPT = """
import os, lithops
def greet(x):
    print("hello from call", x)
    if x == 2:
        raise ValueError("two is not welcome")
    return x
def silent(x):
    return x
with lithops.FunctionExecutor(log_level=None, echo_output=False) as fexec:
    fs = fexec.map(greet, range(4))
    fexec.get_result(fs, throw_except=False)
    s = fexec.call_async(silent, 1)
    s.result()
    print(fs[0].job_key, s.job_key)
"""


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, LITHOPS_STATE_DIR=str(tmp_path / "state"))


@pytest.fixture
def job_keys(env):
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.fixture
def job_key(job_keys):
    return job_keys[0]


def test_job_list_shows_jobs_with_their_outcome(env, job_key):
    out = lithops("job", "list", env=env)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:] if "-" in line.split()[0]}
    assert rows[job_key][1:7] == ["greet", "localhost", "4", "3", "1", "failed"]
    executor_id = job_key.rsplit("-", 1)[0]
    silent = [r for key, r in rows.items() if key.startswith(executor_id) and r[1] == "silent"]
    assert silent and silent[0][2:7] == ["localhost", "1", "1", "0", "done"]
    assert "2 job(s)" in out.stdout
    assert lithops("job", "list", "-b", "aws_lambda", env=env).stdout.startswith("No jobs submitted")


def test_logs_get_prints_each_calls_output(env, job_key):
    out = lithops("logs", "get", job_key, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "".join(f"=== {job_key} call {i:05d} ===\nhello from call {i}\n" for i in range(4))
    out = lithops("logs", "get", job_key, "--call", "2", env=env)
    assert out.stdout == f"=== {job_key} call 00002 ===\nhello from call 2\n"


def test_logs_get_of_a_silent_job_and_of_an_unknown_one(env, job_keys):
    out = lithops("logs", "get", job_keys[1], env=env)
    assert out.returncode == 0, out.stderr
    assert "printed nothing" in out.stdout
    assert_one_line_error(lithops("logs", "get", "nothere-0-M000", env=env), "no job nothere-0-M000",
                          "lithops job list")


def test_worker_list_shows_the_live_pool_of_a_client(env, tmp_path):
    ready = tmp_path / "ready"
    script = (
        "import os, sys, time, lithops\n"
        "fexec = lithops.FunctionExecutor(log_level=None, worker_processes=2)\n"
        "fexec.map(abs, [-1, -2, -3, -4]).get_result()\n"
        f"open({str(ready)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )
    client = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists()
        out = lithops("worker", "list", env=env)
        assert out.returncode == 0, out.stderr
        rows = [line.split() for line in out.stdout.splitlines()[1:-1]]
        assert len(rows) == 2, out.stdout
        assert all(r[1] == "localhost" and r[2] == str(client.pid) for r in rows)
        assert out.stdout.rstrip().endswith("2 worker process(es).")
    finally:
        client.kill()
        client.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the workers die with their client
        out = lithops("worker", "list", env=env)
        if out.stdout.startswith("No worker processes"):
            break
        time.sleep(0.2)
    assert out.stdout.startswith("No worker processes")


def test_logs_poll_prints_output_as_calls_finish(env):
    poll = subprocess.Popen([*LITHOPS, "logs", "poll", "--interval", "0.1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "Waiting for call output" in poll.stderr.readline()
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
        job_key = out.stdout.split()[0]
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 8 and time.monotonic() < deadline:
            seen.append(poll.stdout.readline().rstrip("\n"))
        for i in range(4):
            assert f"=== {job_key} call {i:05d} ===" in seen
            assert f"hello from call {i}" in seen
    finally:
        poll.send_signal(signal.SIGINT)
        assert poll.wait(timeout=10) == 0  # Ctrl-C is how it ends: no error, no traceback
        assert "Traceback" not in poll.stderr.read()
