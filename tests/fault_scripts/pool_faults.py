"""Driver process for tests/test_pool_robustness.py: each mode is a short program that once hung, lost calls or
left workers behind.

Usage: ``python pool_faults.py MODE [ARGS...]``:

- ``deadlock``: a large result on its way back while a busy worker is sent more work; prints ``OK <n>``.
- ``double_sigint N``: maps N long sleeps, prints ``READY`` and waits; every Ctrl-C is caught and the wait is
  started again, until the calls end: prints ``ENDED <calls not done> <interrupts>`` or ``HUNG`` (the wait gave
  up), then gets the results: ``CANCELLED``, ``DONE`` or ``HUNG``.
- ``kill_self DELAY_MS MARKER_DIR``: maps calls that leave a file in MARKER_DIR after 0.5 s, then kills itself
  with SIGKILL DELAY_MS milliseconds after ``map()``.
- ``exit_running STYLE MARKER_DIR``: starts sleeps, waits until they run, then ends the program without waiting,
  with the executor in a ``with`` block (STYLE ``with``) or not (``plain``); prints ``LEAVING``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import lithops
from lithops.errors import JobCancelledError, WaitTimeoutError

CONFIG = {"lithops": {"backend": "localhost", "storage": "localhost"}}


def executor(workers: int) -> lithops.FunctionExecutor:
    return lithops.FunctionExecutor(log_level=None, config={**CONFIG, "localhost": {"worker_processes": workers}})


def deadlock() -> None:
    blob = os.urandom(256 * 1024)

    def big_result(_: int) -> bytes:
        time.sleep(1)
        return blob

    def small_job(i: int) -> int:
        return blob[i]

    fe = executor(1)
    first = fe.call_async(big_result, 0)
    results = fe.get_result(fe.map(small_job, range(100)), timeout=15)
    assert first.result(timeout=15) == blob
    print("OK", len(results), flush=True)


def double_sigint(n: int) -> None:
    def sleeper(i: int) -> int:
        time.sleep(60)
        return i

    fe = executor(2)
    futures = fe.map(sleeper, range(n))
    time.sleep(1)  # the workers start
    interrupts = 0
    ready = False
    while True:
        try:
            if not ready:  # inside the try: the first Ctrl-C may come as soon as this is printed
                ready = True
                print("READY", flush=True)
            try:
                _, not_done = fe.wait(futures, throw_except=False, timeout=20)
                print("ENDED", len(not_done), interrupts, flush=True)
            except WaitTimeoutError:
                print("HUNG", interrupts, flush=True)
            break
        except KeyboardInterrupt:
            interrupts += 1
    try:
        fe.get_result(futures, timeout=5)
        print("DONE", flush=True)
    except JobCancelledError:
        print("CANCELLED", flush=True)
    except WaitTimeoutError:
        print("HUNG", flush=True)


def kill_self(delay_ms: int, marker_dir: str) -> None:
    def slow_marker(i: int) -> int:
        time.sleep(0.5)
        with open(os.path.join(marker_dir, f"{i}.done"), "w") as f:
            f.write(str(os.getpid()))
        return i

    fe = executor(2)
    fe.map(slow_marker, range(4))
    time.sleep(delay_ms / 1000)
    os.kill(os.getpid(), signal.SIGKILL)


def exit_running(style: str, marker_dir: str) -> None:
    def sleeper(i: int) -> int:
        with open(os.path.join(marker_dir, f"{i}.started"), "w") as f:
            f.write(str(os.getpid()))
        time.sleep(30)
        with open(os.path.join(marker_dir, f"{i}.done"), "w") as f:
            f.write(str(os.getpid()))
        return i

    def start(fe: lithops.FunctionExecutor) -> None:
        fe.map(sleeper, range(3))  # two run, one waits in the queue
        deadline = time.monotonic() + 30
        while sum(name.endswith(".started") for name in os.listdir(marker_dir)) < 2:
            assert time.monotonic() < deadline, "the calls did not start"
            time.sleep(0.01)

    if style == "with":
        with executor(2) as fe:
            start(fe)
    else:
        start(executor(2))
    print("LEAVING", flush=True)


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "deadlock":
        deadlock()
    elif mode == "double_sigint":
        double_sigint(int(args[0]))
    elif mode == "kill_self":
        kill_self(int(args[0]), args[1])
    elif mode == "exit_running":
        exit_running(args[0], args[1])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
