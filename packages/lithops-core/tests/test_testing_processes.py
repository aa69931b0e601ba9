"""lithops.testing.processes: the process tree, memory and kills the local function fakes use, on real processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

from lithops.testing.processes import free_port, kill_group, kill_if_over, memory_kib, process_tree, stop_process

#: A parent that starts a child holding ~80 MiB, then both sleep.
FAMILY = ("import subprocess, sys, time\n"
          "subprocess.Popen([sys.executable, '-c', 'import time; b = bytearray(80 << 20); b[::4096] = b\"x\" * "
          "len(b[::4096]); print(1, flush=True); time.sleep(60)'])\n"
          "time.sleep(60)\n")


def _start_family() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", FAMILY], start_new_session=True, stdout=subprocess.DEVNULL)


def _wait_for(predicate: object, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_the_largest_process_of_a_tree_over_its_limit_is_killed_and_the_group_stopped() -> None:
    proc = _start_family()
    try:
        assert _wait_for(lambda: len(process_tree(proc.pid)) == 2
                         and memory_kib(process_tree(proc.pid)[1]) > 60 * 1024)
        parent, child = process_tree(proc.pid)
        assert parent == proc.pid
        assert kill_if_over(proc.pid, 1024 * 1024) is None  # 1 GiB: fits
        assert kill_if_over(proc.pid, 40 * 1024) == child
        assert _wait_for(lambda: memory_kib(child) == 0)  # killed (a zombie until its parent reaps it)
        assert proc.poll() is None  # only the largest was killed
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    assert memory_kib(proc.pid) == 0


def test_a_server_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(polite)
    assert polite.returncode == -signal.SIGTERM
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, sys, time\n"
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"],
                                stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"1\n"
    started = time.monotonic()
    stop_process(stubborn, timeout=0.5)
    assert stubborn.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 10
    stop_process(stubborn)  # already gone: nothing to do
