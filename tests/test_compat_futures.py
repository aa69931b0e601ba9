"""Futures behave as in Lithops 3.x: chained inputs are consumed, futures pickle, state flags, stats, retries."""

from __future__ import annotations

from typing import Any

import pytest


def times_ten(x: int) -> int:
    return x * 10


def plus_one(x: int) -> int:
    return x + 1


# -- futures used as the input of another job are consumed -------------------------------------------------


def test_chained_map_hides_consumed_futures(fexec: Any) -> None:
    first = fexec.map(times_ten, [1, 2])
    fexec.map(plus_one, first)
    assert fexec.get_result() == [11, 21]


def test_chained_map_of_a_slice_keeps_the_rest(fexec: Any) -> None:
    first = fexec.map(times_ten, [1, 2])
    fexec.map(plus_one, first[:1])
    assert fexec.get_result() == [20, 11]  # executor order: first[1], then the second job


@pytest.mark.parametrize("container", [tuple, list, iter], ids=["tuple", "list", "iterator"])
def test_chained_map_over_any_container(fexec: Any, container: Any) -> None:
    first = fexec.map(times_ten, [1, 2])
    fexec.map(plus_one, container(list(first)))
    assert fexec.get_result() == [11, 21]


def test_chained_call_async_consumes_its_input(fexec: Any) -> None:
    first = fexec.call_async(times_ten, 3)
    fexec.call_async(plus_one, first)
    assert fexec.get_result() == 31


def test_futures_mixed_with_data_are_refused(fexec: Any) -> None:
    first = fexec.map(times_ten, [1])
    with pytest.raises(ValueError, match="mixes 1 futures"):
        fexec.map(plus_one, [first[0], 5])
    fexec.wait(first)
