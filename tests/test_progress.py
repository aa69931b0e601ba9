"""The progress bar of wait/get_result: drawn on a real terminal (a pty), silent everywhere else."""

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from lithops import progress

SCRIPT = """
import sys, time, lithops
def slow(x):
    time.sleep(0.25)
    if x in (3, 7):
        raise ValueError(x)
    return x
with lithops.FunctionExecutor(log_level=None, worker_processes=2) as fexec:
    fs = fexec.map(slow, range(12))
    print("results", fexec.get_result(fs, throw_except=False, {kwargs}), flush=True)
"""


def run_on_a_terminal(script, env, columns=100):
    """Run ``script`` with stdin, stdout and stderr on a new pty; return everything the terminal received."""
    master, slave = pty.openpty()
    if columns:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    received = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the pty closed: the process ended
            break
        if not chunk:
            break
        received += chunk
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, received.decode("utf-8", errors="replace")


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, LITHOPS_STATE_DIR=str(tmp_path), PYTHONIOENCODING="utf-8")


def test_a_terminal_gets_a_bar_with_counts_rate_and_eta(env):
    code, screen = run_on_a_terminal(SCRIPT.replace("{kwargs}", ""), env)
    assert code == 0, screen
    frames = [f for f in screen.split("\r\x1b[K") if f.strip()]
    bars = [f for f in frames if "/12 done" in f]
    assert len(bars) >= 3, screen  # redrawn in place while the calls run
    assert any("running" in f and "ETA" in f and "/s" in f for f in bars)
    assert any(" failed" in f for f in bars)  # two calls fail
    final = bars[-1]
    assert "12/12 done" in final and "2 failed" in final and " in 00:0" in final
    first, _, after = final.partition("\r\n")  # the last frame ends its line (the pty turns \n into \r\n) ...
    assert first.endswith(tuple("0123456789"))
    assert after.startswith("results [0, 1, 2, None")  # ... and the program's output follows on its own line
    assert "█" in final and "░" not in final
    assert all(len(f.split("\n")[0].rstrip("\r")) <= 99 for f in bars)  # fits the 100-column terminal


def test_show_progressbar_false_draws_nothing_on_a_terminal(env):
    code, screen = run_on_a_terminal(SCRIPT.replace("{kwargs}", "show_progressbar=False"), env)
    assert code == 0, screen
    assert "done" not in screen and "\x1b[K" not in screen
    assert "results [0, 1, 2, None" in screen


def test_nothing_is_printed_when_stderr_is_not_a_terminal(env):
    out = subprocess.run([sys.executable, "-c", SCRIPT.replace("{kwargs}", "")], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.startswith("results [0, 1, 2, None")


def test_a_quick_wait_leaves_no_trace_on_a_terminal(env):
    # the first result (not drawn: a single future's result() has no bar) warms the pool, so the map's wait is
    # quick even on a loaded machine
    script = ("import lithops\n"
              "with lithops.FunctionExecutor(log_level=None) as fexec:\n"
              "    fexec.call_async(abs, -1).result()\n"
              "    print('sum', sum(fexec.map(abs, range(5)).get_result()))\n")
    code, screen = run_on_a_terminal(script, env)
    assert code == 0, screen
    assert screen.strip() == "sum 10"


def test_an_interrupted_wait_ends_its_line(env):
    script = ("import time, lithops, lithops.errors\n"
              "def slow(x):\n    time.sleep(3)\n"
              "fexec = lithops.FunctionExecutor(log_level=None)\n"
              "fs = fexec.map(slow, range(2))\n"
              "try:\n    fexec.wait(fs, timeout=1.2)\n"
              "except lithops.errors.WaitTimeoutError:\n    print('timed out')\n")
    code, screen = run_on_a_terminal(script, env)
    assert code == 0, screen
    assert "0/2 done" in screen
    assert "\ntimed out" in screen.replace("\r\n", "\n")  # not glued to the end of the bar


def test_no_bar_inside_a_worker(env, monkeypatch):
    monkeypatch.setenv("LITHOPS_WORKER", "1")
    with progress.progress_bar(10, True) as bar:
        assert bar is None


def test_the_line_fits_and_reads_well():
    class Tty:
        encoding = "utf-8"

        def isatty(self):
            return True

    bar = progress.ProgressBar(200, Tty())
    bar.start -= 10  # ten seconds in
    line = bar.line(50, 8, 3, 200, 100)
    assert line.startswith("[" + "█" * 6 + "░" * 19 + "]")
    assert line.endswith(" 50/200 done  8 running  3 failed  5.0/s  ETA 00:30")
    assert bar.line(200, 0, 0, 200, 100).endswith("200/200 done  0 running  20.0/s  in 00:10")
    assert bar.line(0, 2, 0, 200, 100).endswith("ETA --:--")
    narrow = bar.line(50, 8, 3, 200, 30)
    assert len(narrow) <= 30 and "[" not in narrow
    assert progress.ProgressBar(5, type("Ascii", (), {"encoding": "ascii"})()).line(1, 0, 0, 5, 80).startswith("[#")


def what_the_terminal_shows(received):
    """The lines a terminal ends up showing for this output: carriage return, line feed, erase to the end of the
    line (ESC [ K) and printable characters, which is all the bar and the calls' output use."""
    lines, row, col = [[]], 0, 0
    i = 0
    while i < len(received):
        if received.startswith("\x1b[K", i):
            del lines[row][col:]
            i += 3
            continue
        ch = received[i]
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
            if row == len(lines):
                lines.append([])
        else:
            line = lines[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
    return ["".join(line).rstrip() for line in lines]


def test_what_calls_print_appears_above_the_bar(env):
    script = SCRIPT.replace("    time.sleep(0.25)\n", "    time.sleep(0.25)\n    print(f'call {x} says hi')\n")
    code, received = run_on_a_terminal(script.replace("{kwargs}", ""), env)
    assert code == 0, received
    screen = [line for line in what_the_terminal_shows(received) if line]
    said = [line for line in screen if "says hi" in line]
    assert sorted(said) == sorted(f"call {x} says hi" for x in range(12)), screen  # each on its own, unglued
    bars = [line for line in screen if "/12 done" in line]
    assert len(bars) == 1 and "12/12 done" in bars[0], screen  # no old frame left behind
    assert screen.index(bars[0]) > max(screen.index(line) for line in said)  # the bar stays below the output
    assert screen[-1].startswith("results [0, 1, 2, None"), screen
