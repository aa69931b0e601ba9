"""The localhost pool under calls and programs that once made it hang, loop, lose calls or leak state.

Every test runs real worker processes, bounded in time. Tests that kill or interrupt a client run it as a
separate program (tests/fault_scripts/pool_faults.py). Task functions live at module level: workers import this
module by name (it is on their ``PYTHONPATH``).
"""

from __future__ import annotations

import datetime
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import lithops
from lithops.errors import WorkerDiedError
from lithops.job.status import RemoteError

HERE = Path(__file__).resolve().parent
EMPTY_CONFIG = HERE / "data" / "empty_config.yaml"
SCRIPT = HERE / "fault_scripts" / "pool_faults.py"
WORKER_MODULE = "lithops_localhost.worker_main"

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses PR_SET_PDEATHSIG and /proc")


def make_executor(workers: int, **localhost: Any) -> lithops.FunctionExecutor:
    config = {"lithops": {"backend": "localhost", "storage": "localhost"},
              "localhost": {"worker_processes": workers, **localhost}}
    return lithops.FunctionExecutor(log_level=None, config=config)


@pytest.fixture(autouse=True)
def _own_pool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A pool of this test's own: pools are shared per interpreter, size and working directory."""
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(EMPTY_CONFIG))
    monkeypatch.chdir(tmp_path)
    yield


def run_script(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ if env is None else env, LITHOPS_CONFIG_FILE=str(EMPTY_CONFIG), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def workers_of_state_dir(state_dir: str) -> set[int]:
    """Pids of live localhost workers started by a client whose LITHOPS_STATE_DIR was ``state_dir``."""
    pids = set()
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if WORKER_MODULE not in " ".join(proc.info["cmdline"] or ()):
                continue
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("LITHOPS_STATE_DIR") == state_dir:
                pids.add(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def wait_until(predicate: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- tasks (run in the workers) -----------------------------------------------------------------------------
class UnprintableError(Exception):
    """Cannot be pickled, and even its message fails."""

    def __reduce__(self) -> Any:
        raise TypeError("no pickling")

    def __str__(self) -> str:
        raise RuntimeError("no message either")


def raise_unprintable(_: Any) -> None:
    raise UnprintableError()


def pid(_: Any) -> int:
    return os.getpid()


def worker_only_value(folder: str) -> Any:
    """An object whose class only the worker can import."""
    with open(os.path.join(folder, "lithops_worker_only_mod.py"), "w") as f:
        f.write("class Thing:\n    pass\n")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import lithops_worker_only_mod  # type: ignore[import-not-found]

    return lithops_worker_only_mod.Thing()


def future_of_worker_only_value(folder: str) -> Any:
    """A future (of a nested executor) whose result only the worker can read."""
    sys.path.insert(0, folder)  # the nested pool's workers get this path, and this process can read the result
    nested = lithops.FunctionExecutor(worker_processes=1, log_level=None)
    return nested.call_async(worker_only_value, folder)


def sleep_then(value: Any, seconds: float) -> Any:
    time.sleep(seconds)
    return value


def mess_up(folder: str) -> int:
    os.chdir(folder)
    os.environ["LITHOPS_TEST_LEAK"] = "leaked"
    os.environ.pop("LITHOPS_CONFIG_FILE", None)
    os.umask(0o077)
    sys.path.insert(0, "/leaked/path")
    return os.getpid()


def observe(_: Any) -> dict[str, Any]:
    umask = os.umask(0o022)
    os.umask(umask)
    return {"cwd": os.getcwd(), "leak": os.environ.get("LITHOPS_TEST_LEAK"),
            "config_file": os.environ.get("LITHOPS_CONFIG_FILE"), "umask": umask,
            "path_leak": "/leaked/path" in sys.path, "pid": os.getpid()}


def close_stdout(_: Any) -> int:
    sys.stdout.close()
    return os.getpid()


def swap_stdout(_: Any) -> int:
    import io

    sys.stdout = io.StringIO()
    return os.getpid()


def cut_the_line(_: Any) -> None:
    os.close(int(sys.argv[1]))  # the worker's socket to the pool (``worker_main FD ...``)
    time.sleep(30)


def say(text: str) -> int:
    print(text)
    return os.getpid()


def leave_threads(_: Any) -> int:
    import threading

    def forever() -> None:
        while True:
            time.sleep(0.05)

    threading.Thread(target=forever, name="left-behind-daemon", daemon=True).start()
    threading.Thread(target=time.sleep, args=(3,), name="left-behind-sleeper").start()
    return os.getpid()


def thread_names(_: Any) -> tuple[int, list[str]]:
    import threading

    return os.getpid(), sorted(t.name for t in threading.enumerate() if t.name.startswith("left-behind"))


def short_lived_thread(_: Any) -> int:
    import threading

    thread = threading.Thread(target=time.sleep, args=(0.01,), name="left-behind-joined")
    thread.start()
    thread.join()
    return os.getpid()


# -- 6. no deadlock between a large result and the next job's function ---------------------------------------
@pytest.mark.timeout(90)
def test_large_result_and_work_for_a_busy_worker_do_not_deadlock() -> None:
    start = time.monotonic()
    out = run_script("deadlock", timeout=40)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK 100", out.stdout + out.stderr
    assert time.monotonic() - start < 40


# -- 7 and 20. workers that die before running anything -------------------------------------------------------
def runtime_script(folder: Path, body: str) -> str:
    path = folder / "fake-python"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    for _ in range(100):  # another thread's fork may still hold the file open for writing for a moment
        try:
            subprocess.run([str(path), "-c", "pass"], capture_output=True, timeout=30)
            break
        except OSError:
            time.sleep(0.05)
    return str(path)


@pytest.mark.timeout(90)
def test_a_worker_that_dies_at_start_is_retried_a_few_times_then_fails_with_its_stderr(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    python = runtime_script(tmp_path, f'echo x >> "{starts}"\necho "boom: this interpreter refuses to run" >&2\n'
                                      "exit 3\n")
    starts.unlink(missing_ok=True)  # the trial run of the script
    with make_executor(2, runtime=python) as fexec:
        futures = fexec.map(abs, range(10))
        start = time.monotonic()
        with pytest.raises(WorkerDiedError) as info:
            fexec.get_result(futures, timeout=30)
        assert time.monotonic() - start < 20
        # get_result raised at the first failure; the job's other calls are failed just after it
        fexec.wait(futures, throw_except=False, timeout=20)
    message = str(info.value)
    assert "boom: this interpreter refuses to run" in message, message
    assert "exited with code 3" in message, message
    assert "out-of-memory" not in message and "out of memory" not in message, message
    assert all(f.error for f in futures)
    assert len(starts.read_text().split()) <= 6  # bounded: not a new worker per call, nor forever


@pytest.mark.timeout(60)
def test_an_interpreter_without_lithops_says_which_module_is_missing(tmp_path: Path) -> None:
    python = runtime_script(tmp_path, f'exec env -u PYTHONPATH "{sys.executable}" -S "$@"\n')
    with make_executor(1, runtime=python) as fexec:
        with pytest.raises(WorkerDiedError) as info:
            fexec.call_async(abs, -1).result(timeout=30)
    assert "No module named 'lithops_localhost'" in str(info.value), str(info.value)


@pytest.mark.timeout(60)
def test_a_worker_that_cannot_set_up_a_job_fails_its_calls_instead_of_looping(tmp_path: Path) -> None:
    with make_executor(1) as fexec:
        assert fexec.call_async(pid, 0).result(timeout=30)
        # a value the worker cannot turn into JSON for nested executors, slipped in after validation
        fexec.config["localhost"]["note"] = datetime.date(2020, 1, 2)
        future = fexec.call_async(abs, -3)
        start = time.monotonic()
        with pytest.raises(Exception) as info:
            future.result(timeout=30)
        assert time.monotonic() - start < 20
        assert "date" in str(info.value), str(info.value)
        del fexec.config["localhost"]["note"]
        assert fexec.call_async(abs, -4).result(timeout=30) == 4  # the pool still works


# -- 8. a result the client cannot read ------------------------------------------------------------------------
@pytest.mark.timeout(90)
@pytest.mark.parametrize("task", [worker_only_value, future_of_worker_only_value])
def test_an_unreadable_result_fails_only_its_call(tmp_path: Path, task: Any) -> None:
    folder = tmp_path / "only-in-worker"
    folder.mkdir()
    with make_executor(2) as bystander_exec, make_executor(2) as fexec:
        bystander = bystander_exec.call_async(sleep_then, ("fine", 3))
        bad = fexec.call_async(task, str(folder))
        with pytest.raises(Exception) as info:
            bad.result(timeout=30)
        assert "lithops_worker_only_mod" in str(info.value), str(info.value)
        assert bystander.result(timeout=30) == "fine"
        assert fexec.call_async(abs, -5).result(timeout=30) == 5


# -- 12. an exception that can neither be pickled nor printed ---------------------------------------------------
@pytest.mark.timeout(60)
def test_an_exception_that_cannot_be_pickled_or_printed_is_a_remote_error() -> None:
    with make_executor(1) as fexec:
        worker = fexec.call_async(pid, 0).result(timeout=30)
        with pytest.raises(RemoteError) as info:
            fexec.call_async(raise_unprintable, 0).result(timeout=30)
        assert info.value.type_name == "UnprintableError"
        assert fexec.call_async(pid, 0).result(timeout=30) == worker  # the worker survived


# -- 16. warm workers: each call starts from the same state ----------------------------------------------------
@pytest.mark.timeout(60)
def test_process_state_does_not_leak_from_one_executor_to_the_next(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    umask = os.umask(0o022)
    os.umask(umask)
    with make_executor(1) as first, make_executor(1) as second:  # one pool, one warm worker
        worker = first.call_async(mess_up, str(elsewhere)).result(timeout=30)
        seen = second.call_async(observe, 0).result(timeout=30)
    assert seen["pid"] == worker  # restored, not replaced
    assert seen["cwd"] == str(tmp_path)
    assert seen["leak"] is None
    assert seen["config_file"] == str(EMPTY_CONFIG)
    assert seen["umask"] == umask
    assert not seen["path_leak"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("breaker", [close_stdout, swap_stdout])
def test_a_call_that_breaks_stdout_does_not_break_later_calls(breaker: Any) -> None:
    with make_executor(1) as fexec:
        broke_in = fexec.call_async(breaker, 0).result(timeout=30)
        later = fexec.call_async(say, "still printing")
        assert later.result(timeout=30)
        assert "still printing" in later.logs()
        again = fexec.call_async(say, "and again")
        assert again.result(timeout=30)
        assert "and again" in again.logs()
    if breaker is close_stdout:  # that worker could not be repaired: it was replaced
        assert later.result() != broke_in


@pytest.mark.timeout(60)
def test_threads_a_call_leaves_running_retire_its_worker() -> None:
    with make_executor(1) as fexec:
        left_in = fexec.call_async(leave_threads, 0).result(timeout=30)
        worker, names = fexec.call_async(thread_names, 0).result(timeout=30)
        assert names == [] and worker != left_in  # the next call ran in a fresh worker
        assert fexec.call_async(short_lived_thread, 0).result(timeout=30) == worker  # joined threads: kept
        assert fexec.call_async(thread_names, 0).result(timeout=30) == (worker, [])


@pytest.mark.timeout(60)
def test_a_worker_the_pool_kills_itself_is_not_blamed_on_the_out_of_memory_killer() -> None:
    with make_executor(1) as fexec:
        start = time.monotonic()
        with pytest.raises(WorkerDiedError) as info:
            fexec.call_async(cut_the_line, 0).result(timeout=20)
        assert time.monotonic() - start < 15
        assert fexec.call_async(abs, -6).result(timeout=30) == 6
    message = str(info.value)
    assert "out-of-memory" not in message and "stopped by the pool" in message, message


# -- 9. Ctrl-C twice -------------------------------------------------------------------------------------------
@linux_only
@pytest.mark.timeout(120)
@pytest.mark.parametrize("gap", [0.002, 0.01, 0.03])
def test_a_second_ctrl_c_while_cancelling_leaves_no_call_pending(tmp_path: Path, gap: float) -> None:
    env = dict(os.environ, LITHOPS_CONFIG_FILE=str(EMPTY_CONFIG), PYTHONUNBUFFERED="1")
    driver = subprocess.Popen([sys.executable, str(SCRIPT), "double_sigint", "20000"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        assert driver.stdout is not None
        ready, _, _ = select.select([driver.stdout], [], [], 40)
        assert ready and driver.stdout.readline().strip() == "READY"
        os.kill(driver.pid, signal.SIGINT)
        time.sleep(gap)
        os.kill(driver.pid, signal.SIGINT)
        out, err = driver.communicate(timeout=30)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        driver.wait()
    lines = out.split("\n")
    assert lines[0].startswith("ENDED 0 "), out + err
    assert lines[1] == "CANCELLED", out + err


# -- 10. a client killed just after map(), and a client that ends with calls running ------------------------------
@linux_only
@pytest.mark.timeout(120)
@pytest.mark.parametrize("delay_ms", [10, 25, 50])
def test_workers_of_a_client_killed_right_after_map_do_not_run_its_calls(tmp_path: Path, delay_ms: int) -> None:
    state_dir = str(tmp_path / "state")
    markers = tmp_path / "markers"
    markers.mkdir()
    out = run_script("kill_self", str(delay_ms), str(markers), env=dict(os.environ, LITHOPS_STATE_DIR=state_dir))
    assert out.returncode == -signal.SIGKILL, out.stderr
    assert wait_until(lambda: not workers_of_state_dir(state_dir), within=5), "orphaned workers"
    time.sleep(1)  # a call that had started would leave its marker 0.5 s in
    assert not list(markers.iterdir())


@linux_only
@pytest.mark.timeout(120)
@pytest.mark.parametrize("style", ["with", "plain"])
def test_a_program_that_ends_with_calls_running_says_it_stopped_them(tmp_path: Path, style: str) -> None:
    state_dir = str(tmp_path / "state")
    markers = tmp_path / "markers"
    markers.mkdir()
    start = time.monotonic()
    out = run_script("exit_running", style, str(markers), env=dict(os.environ, LITHOPS_STATE_DIR=state_dir))
    assert time.monotonic() - start < 30
    assert out.returncode == 0, out.stderr
    assert "LEAVING" in out.stdout
    assert "3 call(s)" in out.stderr and "stopped" in out.stderr, out.stderr
    assert wait_until(lambda: not workers_of_state_dir(state_dir), within=5), "workers outlived the program"
    assert not list(markers.glob("*.done"))
