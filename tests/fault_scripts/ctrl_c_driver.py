"""Driver process for the Ctrl-C and killed-driver tests of tests/test_faults.py.

Usage: ``python ctrl_c_driver.py PID_DIR WORKERS STYLE`` with STYLE ``with`` (the executor in a ``with`` block,
waiting in ``get_result``), ``plain`` (no ``with``, waiting in ``get_result``) or ``result`` (no ``with``, waiting
in a future's ``result()``, which cancels nothing). It maps long sleeps over WORKERS worker processes (twice as
many calls as workers, so some wait in the queue), waits until every worker has written its pid into PID_DIR,
prints ``READY`` and then blocks until the test interrupts or kills it.
"""

from __future__ import annotations

import os
import sys
import time

import lithops


def sleeper(pid_dir: str, index: int) -> int:
    path = os.path.join(pid_dir, f"{index}.pid")
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)  # the test never reads a half-written file
    time.sleep(120)
    return index


def main() -> None:
    pid_dir, workers, style = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fexec = lithops.FunctionExecutor(
        log_level=None,
        config={"lithops": {"backend": "localhost", "storage": "localhost"},
                "localhost": {"worker_processes": workers}},
    )

    def run(fx: lithops.FunctionExecutor) -> None:
        futures = fx.map(sleeper, [(pid_dir, i) for i in range(2 * workers)])
        deadline = time.monotonic() + 30
        while sum(name.endswith(".pid") for name in os.listdir(pid_dir)) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start within 30 s")
            time.sleep(0.01)
        print("READY", flush=True)
        if style == "result":
            futures[-1].result()
        else:
            fx.get_result()
        print("the wait returned", flush=True)  # never expected

    if style == "with":
        with fexec as fx:
            run(fx)
    else:
        run(fexec)


if __name__ == "__main__":
    main()
