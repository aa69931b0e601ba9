"""Local processes that stand in for a cloud's function instances in the local fakes (Lambda's sandboxes, Function
Compute's instances): a free loopback port, the process tree of an instance, its memory as the kernel counts it
(PSS), the out-of-memory kill of its largest process, and stopping the whole process group. Linux only (``/proc``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (those alive now)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def memory_kib(pid: int) -> int:
    """Proportional set size (shared pages split among sharers) of a process in KiB, its resident size where the
    kernel has no ``smaps_rollup``; 0 when it is gone.
    """
    for path, field in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(field):
                        return int(line.split()[1])
        except OSError:
            continue
    return 0


def kill_if_over(pid: int, limit_kib: int) -> int | None:
    """When ``pid`` and its descendants use more than ``limit_kib`` together, kill the largest of them with SIGKILL
    (as the out-of-memory killer of a cgroup does) and return its pid; None when they fit.
    """
    usage = {p: memory_kib(p) for p in process_tree(pid)}
    if sum(usage.values()) <= limit_kib:
        return None
    victim = max(usage, key=lambda p: usage[p])
    try:
        os.kill(victim, signal.SIGKILL)
    except OSError:
        pass
    return victim


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group ``proc`` leads (started with ``start_new_session=True``) and reap ``proc``."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop a local server process: SIGTERM, and SIGKILL when it has not exited within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
