"""Faults against real processes: killed and crashing workers, memory errors, timeouts, Ctrl-C, killed drivers.

Every test has a bounded run time (``pytest.mark.timeout``) and asserts how long the fault took to surface, so
a regression that makes the executor hang or wait for a worker's full sleep fails here instead of hanging CI.
The task functions live at module level: workers import this module by name (it is on their ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import resource
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
from lithops.errors import FunctionTimeoutError, JobCancelledError, WaitTimeoutError, WorkerDiedError
from lithops_localhost import pool as localhost_pool

HERE = Path(__file__).resolve().parent
EMPTY_CONFIG = HERE / "data" / "empty_config.yaml"
DRIVER = HERE / "fault_scripts" / "ctrl_c_driver.py"
WORKER_MODULE = "lithops_localhost.worker_main"
MIB = 1024 * 1024

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc, RLIMIT_AS or PDEATHSIG")


# -- tasks (run in the workers) -----------------------------------------------------------------------------
def _write_pid(path: str) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)  # the test never reads a half-written file


def task(kind: str, arg: Any = None) -> Any:
    """One task per fault; ``arg`` is the value, path or duration the kind needs."""
    if kind == "value":
        return arg * 10
    if kind == "sleep":
        time.sleep(arg)
        return "woke up"
    if kind == "pid":
        time.sleep(arg)
        return os.getpid()
    if kind == "pid_then_sleep":  # the test kills this worker from outside (or waits until it runs)
        path, seconds = arg if isinstance(arg, tuple) else (arg, 60)
        _write_pid(path)
        time.sleep(seconds)
        return "woke up"
    if kind == "kill_self":  # leaves a trace per run, so a test can tell it ran only once
        with open(arg, "a") as f:
            f.write(f"{os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "exit":
        os._exit(arg)
    if kind == "allocate_over_limit":
        return _allocate_over_limit(arg)
    if kind == "block_alarm":  # as native code that never lets the interpreter run its alarm handler would
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        deadline = time.monotonic() + arg
        while time.monotonic() < deadline:
            time.sleep(0.05)
        return "woke up"
    if kind == "swallow_alarm":  # user code that catches everything, the time-limit exception included
        deadline = time.monotonic() + arg
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)
            except BaseException:
                pass
        return "woke up"
    raise ValueError(f"unknown task kind {kind!r}")


def _allocate_over_limit(size: int) -> int:
    """Cap this worker's address space a little above what it uses, allocate ``size`` bytes, undo the cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = in_use + 256 * MIB
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        block = bytearray(size)
        return len(block)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# -- helpers ------------------------------------------------------------------------------------------------
def make_executor(workers: int, **lithops_config: Any) -> lithops.FunctionExecutor:
    """An executor that reads no config file: localhost compute and storage, ``workers`` processes."""
    config = {
        "lithops": {"backend": "localhost", "storage": "localhost", **lithops_config},
        "localhost": {"worker_processes": workers},
    }
    return lithops.FunctionExecutor(log_level=None, config=config)


def warm_up(fexec: lithops.FunctionExecutor, workers: int) -> None:
    """Start the workers and import this module in each, so that later quick calls are really quick (a
    worker sends the statuses of quick calls in batches, which is what some tests are about)."""
    assert fexec.get_result(fexec.map(task, [("value", i) for i in range(4 * workers)]), timeout=30) == [
        10 * i for i in range(4 * workers)
    ]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def worker_pids(parent: int) -> set[int]:
    """Pids of the live localhost worker processes under ``parent``."""
    pids = set()
    try:
        children = psutil.Process(parent).children(recursive=True)
    except psutil.NoSuchProcess:
        return pids
    for child in children:
        try:
            if child.status() != psutil.STATUS_ZOMBIE and WORKER_MODULE in " ".join(child.cmdline()):
                pids.add(child.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def wait_gone(pids: set[int], within: float) -> set[int]:
    """Wait up to ``within`` seconds for every pid to exit; return those still alive."""
    deadline = time.monotonic() + within
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return left


def read_pid(path: Path, within: float = 20) -> int:
    """Wait for a task to write its pid to ``path``."""
    deadline = time.monotonic() + within
    while not path.exists():
        assert time.monotonic() < deadline, f"no task wrote {path} within {within} s"
        time.sleep(0.01)
    return int(path.read_text())


@pytest.fixture(autouse=True)
def _own_pool_and_no_leftover_workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Give each test a worker pool of its own, and check that every worker it started is gone at its end.

    Pools are shared per interpreter, size and working directory, so running in ``tmp_path`` keeps these tests
    from killing (or counting) the workers of a pool other tests hold for the session.
    """
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(EMPTY_CONFIG))
    monkeypatch.chdir(tmp_path)
    before = worker_pids(os.getpid())
    yield
    started = worker_pids(os.getpid()) - before
    assert not wait_gone(started, within=10), "worker processes outlived their executor"


# -- 1. a worker killed from outside ------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_worker_killed_from_outside_fails_only_its_call(tmp_path: Path) -> None:
    pid_file = tmp_path / "victim.pid"
    with make_executor(2) as fexec:
        warm_up(fexec, 2)
        # The victim comes third, after two quick calls in the same batch of the same worker.
        data = [("value", 1), ("value", 2), ("pid_then_sleep", str(pid_file))] + [("value", i) for i in range(3, 12)]
        futures = fexec.map(task, data)
        victim_pid = read_pid(pid_file)
        start = time.monotonic()
        os.kill(victim_pid, signal.SIGKILL)
        fexec.wait(futures, throw_except=False, timeout=20)
        assert time.monotonic() - start < 5

        victim = futures[2]
        error = victim.exception()
        assert isinstance(error, WorkerDiedError), repr(error)
        assert "killed by SIGKILL" in str(error) and str(victim_pid) in str(error)
        with pytest.raises(WorkerDiedError, match="killed"):
            victim.result()
        others = futures[:2] + futures[3:]
        assert [f.result() for f in others] == [10, 20] + [10 * i for i in range(3, 12)]
        assert not alive(victim_pid)

        # The pool replaced the worker: the executor keeps working.
        start = time.monotonic()
        assert fexec.get_result(fexec.map(task, [("value", i) for i in range(20)]), timeout=20) == [
            10 * i for i in range(20)
        ]
        assert time.monotonic() - start < 5
        assert victim_pid not in worker_pids(os.getpid())


@pytest.mark.timeout(60)
def test_idle_workers_killed_between_maps_are_replaced() -> None:
    with make_executor(2) as fexec:
        pids = set(fexec.get_result(fexec.map(task, [("pid", 0.2)] * 4), timeout=20))
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        # Submitted at once: some calls may go to a worker that is dead but not yet noticed; no call ran there,
        # so none may fail.
        start = time.monotonic()
        futures = fexec.map(task, [("value", i) for i in range(10)])
        assert fexec.get_result(futures, timeout=20) == [10 * i for i in range(10)]
        assert time.monotonic() - start < 5
        assert not pids & set(fexec.get_result(fexec.map(task, [("pid", 0.2)] * 4), timeout=20))


# -- 7. the calls queued behind a killed worker are not lost ------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("position", [0, 1, 3])
def test_killed_worker_queued_calls_are_not_lost(tmp_path: Path, position: int) -> None:
    trace = tmp_path / "kill_self.trace"
    data: list[tuple[str, Any]] = [("value", 1), ("value", 2), ("value", 3)]
    data.insert(position, ("kill_self", str(trace)))
    start = time.monotonic()
    with make_executor(1) as fexec:
        warm_up(fexec, 1)
        futures = fexec.map(task, data)
        fexec.wait(futures, throw_except=False, timeout=20)
        for i, f in enumerate(futures):
            if i == position:
                assert isinstance(f.exception(), WorkerDiedError), repr(f.exception())
                assert "killed by SIGKILL" in str(f.exception())
            else:
                assert not f.error, f"call {i} failed: {f.exception()!r}"
        assert [f.result() for i, f in enumerate(futures) if i != position] == [10, 20, 30]
        assert fexec.get_result(fexec.map(task, [("value", 4), ("value", 5)]), timeout=20) == [40, 50]
    assert time.monotonic() - start < 10
    assert len(trace.read_text().splitlines()) == 1, "the killing call ran more than once"


# -- 2. out of memory and hard exits ------------------------------------------------------------------------
@linux_only
@pytest.mark.timeout(60)
def test_allocation_over_the_address_space_limit_is_a_memory_error() -> None:
    with make_executor(1) as fexec:
        start = time.monotonic()
        futures = fexec.map(task, [("value", 1), ("allocate_over_limit", 8 * 1024 * MIB), ("value", 2)])
        fexec.wait(futures, throw_except=False, timeout=20)
        assert time.monotonic() - start < 5
        with pytest.raises(MemoryError):
            futures[1].result()
        assert futures[0].result() == 10 and futures[2].result() == 20
        # The worker survived (the task undid its limit) and keeps serving calls.
        assert fexec.get_result(fexec.map(task, [("value", 3)]), timeout=20) == [30]


@pytest.mark.timeout(60)
def test_task_exiting_the_process_fails_with_the_exit_code() -> None:
    with make_executor(2) as fexec:
        start = time.monotonic()
        futures = fexec.map(task, [("value", 1), ("exit", 3), ("value", 2), ("value", 3)])
        fexec.wait(futures, throw_except=False, timeout=20)
        assert time.monotonic() - start < 5
        error = futures[1].exception()
        assert isinstance(error, WorkerDiedError), repr(error)
        assert "exited with code 3" in str(error)
        assert [futures[i].result() for i in (0, 2, 3)] == [10, 20, 30]
        assert fexec.get_result(fexec.map(task, [("value", 4)]), timeout=20) == [40]


# -- 3. execution timeouts ----------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_call_async_timeout_stops_a_sleeping_call() -> None:
    with make_executor(1) as fexec:
        start = time.monotonic()
        future = fexec.call_async(task, ("sleep", 30), timeout=1)
        with pytest.raises(FunctionTimeoutError, match="execution timeout of 1 s"):
            future.result(timeout=20)
        elapsed = time.monotonic() - start
        assert 0.9 <= elapsed < 4, elapsed
        # The in-process alarm stopped the call; the worker lives on and serves the next one.
        assert fexec.call_async(task, ("value", 5)).result(timeout=20) == 50


@pytest.mark.timeout(60)
def test_execution_timeout_from_the_config() -> None:
    with make_executor(1, execution_timeout=1) as fexec:
        start = time.monotonic()
        futures = fexec.map(task, [("sleep", 30), ("value", 1)])
        fexec.wait(futures, throw_except=False, timeout=20)
        elapsed = time.monotonic() - start
        assert 0.9 <= elapsed < 4, elapsed
        with pytest.raises(FunctionTimeoutError, match="execution timeout of 1 s"):
            futures[0].result()
        assert futures[1].result() == 10


@linux_only
@pytest.mark.timeout(60)
def test_call_that_escapes_the_alarm_is_killed_by_the_watchdog() -> None:
    grace = localhost_pool.KILL_GRACE_SEC
    with make_executor(3) as fexec:
        start = time.monotonic()
        data = [("value", 1), ("block_alarm", 60), ("swallow_alarm", 60)] + [("value", i) for i in range(2, 8)]
        futures = fexec.map(task, data, timeout=1)
        quick = [f for i, f in enumerate(futures) if i not in (1, 2)]
        fexec.wait(quick, timeout=20)
        assert time.monotonic() - start < 8, "quick calls waited for the stuck ones (60 s)"
        fexec.wait(futures, throw_except=False, timeout=30)
        elapsed = time.monotonic() - start
        assert 1 + grace - 0.5 <= elapsed < 1 + grace + 10, elapsed  # not the calls' own 60 s
        for stuck in (futures[1], futures[2]):
            error = stuck.exception()
            assert isinstance(error, FunctionTimeoutError), repr(error)
            assert "worker was killed" in str(error)
        assert [f.result() for f in quick] == [10 * i for i in range(1, 8)]
        # The killed workers were replaced.
        assert fexec.get_result(fexec.map(task, [("value", i) for i in range(6)]), timeout=20) == [
            10 * i for i in range(6)
        ]


@linux_only
@pytest.mark.timeout(60)
def test_watchdog_blames_the_stuck_call_not_the_quick_ones_before_it() -> None:
    # One worker, so the quick first call and the stuck second call share a batch: the worker still holds the
    # quick call's status when it is killed, and the pool must blame (and not re-run) the stuck call.
    grace = localhost_pool.KILL_GRACE_SEC
    with make_executor(1) as fexec:
        warm_up(fexec, 1)
        start = time.monotonic()
        futures = fexec.map(task, [("value", 1), ("block_alarm", 60), ("value", 2), ("value", 3)], timeout=1)
        fexec.wait(futures, throw_except=False, timeout=30)
        elapsed = time.monotonic() - start
        assert 1 + grace - 0.5 <= elapsed < 1 + grace + 10, elapsed  # not the calls' own 60 s
        assert isinstance(futures[1].exception(), FunctionTimeoutError), repr(futures[1].exception())
        assert [futures[i].result() for i in (0, 2, 3)] == [10, 20, 30]


# -- 5. waiting never hangs ---------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_wait_timeout_then_forced_clean_ends_the_calls() -> None:
    with make_executor(2) as fexec:
        futures = fexec.map(task, [("sleep", 60)] * 4)
        start = time.monotonic()
        with pytest.raises(WaitTimeoutError):
            fexec.get_result(futures, timeout=1)
        assert 0.9 <= time.monotonic() - start < 3
        assert not any(f.finished for f in futures)  # the calls keep running after a wait timeout
        fexec.clean(force=True)
        assert all(isinstance(f.exception(), JobCancelledError) for f in futures)
    assert time.monotonic() - start < 5


# -- 6. KeyboardInterrupt inside ``with FunctionExecutor()`` ------------------------------------------------
@pytest.mark.timeout(60)
def test_keyboard_interrupt_in_with_block_cancels_pending_calls(tmp_path: Path) -> None:
    futures: list[Any] = []
    with pytest.raises(KeyboardInterrupt):
        with make_executor(2) as fexec:
            futures = fexec.map(task, [("pid_then_sleep", str(tmp_path / f"{i}.pid")) for i in range(5)])
            pids = {read_pid(tmp_path / "0.pid"), read_pid(tmp_path / "1.pid")}
            start = time.monotonic()
            raise KeyboardInterrupt
    assert time.monotonic() - start < 2
    assert len(futures) == 5
    for f in futures:
        assert isinstance(f.exception(), JobCancelledError), repr(f.exception())
        with pytest.raises(JobCancelledError):
            f.result()
    assert not wait_gone(pids, within=5), "the workers running cancelled calls were not stopped"


@pytest.mark.timeout(60)
def test_cancelling_one_executor_spares_the_calls_of_another(tmp_path: Path) -> None:
    # Both executors share one worker (same interpreter, size and folder): B's calls queue behind A's running call
    # in that worker's batch, and cancelling B must not take A's call down with it.
    with make_executor(1) as a, make_executor(1) as b:
        a_future = a.call_async(task, ("pid_then_sleep", (str(tmp_path / "a.pid"), 2)))
        read_pid(tmp_path / "a.pid")
        b_futures = b.map(task, [("sleep", 60)] * 4)
        time.sleep(0.2)  # the dispatcher hands some of B's calls to the busy worker
        start = time.monotonic()
        b.clean(force=True)
        assert all(isinstance(f.exception(), JobCancelledError) for f in b_futures)
        assert a_future.result(timeout=20) == "woke up"
        assert time.monotonic() - start < 5
        assert a.call_async(task, ("value", 1)).result(timeout=20) == 10


# -- 4. Ctrl-C and SIGKILL of a driver process --------------------------------------------------------------
def start_driver(pid_dir: Path, workers: int, style: str) -> subprocess.Popen[str]:
    env = dict(os.environ, LITHOPS_CONFIG_FILE=str(EMPTY_CONFIG), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(DRIVER), str(pid_dir), str(workers), style],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )


def wait_ready(driver: subprocess.Popen[str], within: float = 30) -> None:
    assert driver.stdout is not None
    ready, _, _ = select.select([driver.stdout], [], [], within)
    line = driver.stdout.readline() if ready else ""
    if line.strip() != "READY":
        driver.kill()
        _, err = driver.communicate(timeout=10)
        pytest.fail(f"driver not ready (got {line!r}); stderr:\n{err}")


def driver_workers(driver: subprocess.Popen[str], pid_dir: Path, workers: int) -> set[int]:
    """The driver's worker pids, as its tasks wrote them and as the process tree shows them."""
    written = {int(p.read_text()) for p in pid_dir.glob("*.pid")}
    seen = worker_pids(driver.pid)
    assert len(written) == workers and written <= seen, (written, seen)
    return seen


def stop_group(driver: subprocess.Popen[str]) -> None:
    """Kill whatever is left of the driver's process group (the driver and its workers), and close its pipes."""
    try:
        os.killpg(driver.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    driver.wait()
    for pipe in (driver.stdout, driver.stderr):
        if pipe is not None:
            pipe.close()


@linux_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("style", "target"), [("plain", "group"), ("with", "group"), ("plain", "driver"), ("result", "group")]
)
def test_ctrl_c_in_driver_exits_promptly_and_stops_workers(tmp_path: Path, style: str, target: str) -> None:
    driver = start_driver(tmp_path, 2, style)
    try:
        wait_ready(driver)
        pids = driver_workers(driver, tmp_path, 2)
        start = time.monotonic()
        if target == "group":  # what a terminal's Ctrl-C does: the workers get SIGINT too, and ignore it
            os.killpg(driver.pid, signal.SIGINT)
        else:
            os.kill(driver.pid, signal.SIGINT)
        driver.wait(timeout=10)
        elapsed = time.monotonic() - start
        left = wait_gone(pids, within=5)
        assert not left, f"worker processes {left} outlived the interrupted driver"
        assert driver.stderr is not None
        err = driver.stderr.read()  # the workers shared the pipe: it ends once they are gone
    finally:
        stop_group(driver)
    assert elapsed < 5, elapsed
    assert "KeyboardInterrupt" in err and "Traceback" in err, err
    assert driver.returncode in (-signal.SIGINT, 128 + signal.SIGINT, 1), driver.returncode


@linux_only
@pytest.mark.timeout(60)
def test_killed_driver_takes_its_workers_with_it(tmp_path: Path) -> None:
    driver = start_driver(tmp_path, 2, "plain")
    try:
        wait_ready(driver)
        pids = driver_workers(driver, tmp_path, 2)
        os.kill(driver.pid, signal.SIGKILL)  # only the driver: its workers must follow on their own (PDEATHSIG)
        driver.wait(timeout=10)
        start = time.monotonic()
        left = wait_gone(pids, within=5)
        elapsed = time.monotonic() - start
    finally:
        stop_group(driver)  # never leave orphans behind, even when the test fails
    assert driver.returncode == -signal.SIGKILL
    assert not left, f"orphaned workers {left}"
    assert elapsed < 2, elapsed


@pytest.mark.timeout(90)
@pytest.mark.parametrize("spare", [1, 3])
def test_a_worker_that_cannot_start_fails_calls_instead_of_hanging(spare: int) -> None:
    script = Path(__file__).parent / "fault_scripts" / "no_file_descriptors.py"
    start = time.monotonic()
    out = subprocess.run([sys.executable, str(script), str(spare)], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 30
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr
    assert line.startswith("BackendError: cannot start a localhost worker process") or line.startswith(
        "BackendError cannot start a localhost worker process"), line
    assert "Too many open files" in line and "ulimit -n" in line
