"""The same documentation-style programs, run with the standard library and with lithops.multiprocessing (on
each store), must give the same outcome.
"""

from functools import cache

import mp_programs
import pytest

import lithops.multiprocessing


@cache
def stdlib_outcome(name):
    return mp_programs.PROGRAMS[name](mp_programs.stdlib())


@pytest.mark.parametrize("name", sorted(mp_programs.PROGRAMS))
def test_same_outcome_as_the_standard_library(name, store):
    expected = stdlib_outcome(name)
    assert mp_programs.PROGRAMS[name](lithops.multiprocessing) == expected


TASK_FAILS_IN_MAIN = '''
import sys
if sys.argv[1] == "lithops":
    import lithops.multiprocessing as mp
else:
    import multiprocessing as mp


def fails(x):
    raise ValueError(f"task {x} failed")


if __name__ == "__main__":
    with mp.Pool(1) as pool:
        try:
            pool.apply(fails, (1,))
        except ValueError as exc:
            cause = exc.__cause__
            print(type(cause).__module__, type(cause).__name__, str(cause).startswith('\\n"""\\nTraceback'))
            print([line.strip() for line in str(cause).splitlines() if "fails" in line or "raise" in line])
'''


def test_tracebacks_of_tasks_defined_in_main_show_their_source(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "main_task.py"
    script.write_text(TASK_FAILS_IN_MAIN)
    outputs = []
    for which in ("stdlib", "lithops"):
        out = subprocess.run([sys.executable, str(script), which], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        outputs.append(out.stdout)
    assert outputs[0] == outputs[1]
    assert 'raise ValueError(f"task {x} failed")' in outputs[1] and str(script) in outputs[1]
