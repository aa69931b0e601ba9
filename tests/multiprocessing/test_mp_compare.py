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
