"""Futures feeding further work: FuturesList chaining, futures as map input, executors inside workers."""

from __future__ import annotations

import os
from typing import Any

import pytest

import lithops


def double(x: int) -> int:
    return 2 * x


def plus_one(x: int) -> int:
    return x + 1


def total(results: list[int]) -> int:
    return sum(results)


def fail_on_three(x: int) -> int:
    if x == 3:
        raise RuntimeError("three is not allowed")
    return x


def spawn_inner_map(n: int) -> Any:
    """Runs in a worker: starts a map of its own and returns its futures, which the client follows."""
    fexec = lithops.FunctionExecutor(log_level=None, worker_processes=1)
    return fexec.map(double, range(n))


def spawn_inner_call(x: int) -> Any:
    fexec = lithops.FunctionExecutor(log_level=None, worker_processes=1)
    return fexec.call_async(plus_one, x)


def nested_wait(n: int) -> tuple[list[int], str | None, int]:
    """Runs in a worker: uses an executor of its own to the end and returns plain values."""
    with lithops.FunctionExecutor(log_level=None, worker_processes=1) as fexec:
        results = fexec.map(double, range(n)).get_result()
        assert fexec.backend == "localhost"
    return results, os.environ.get("LITHOPS_WORKER"), len(results)


# -- FuturesList chaining --------------------------------------------------------------------------------------


def test_map_then_map_returns_last_stage_only(fexec: Any) -> None:
    assert fexec.map(double, [1, 2, 3]).map(plus_one).get_result() == [3, 5, 7]


def test_three_stage_chain(fexec: Any) -> None:
    assert fexec.map(double, [1, 2]).map(plus_one).map(double).get_result() == [6, 10]


def test_chain_get_result_through_executor(fexec: Any) -> None:
    futures = fexec.map(double, [5, 6]).map(plus_one)
    assert fexec.get_result(futures) == [11, 13]
    assert lithops.get_result(futures) == [11, 13]


def test_chain_map_reduce(fexec: Any) -> None:
    assert fexec.map(double, [1, 2, 3]).map_reduce(plus_one, total).get_result() == 15


def test_chain_wait(fexec: Any) -> None:
    futures = fexec.map(double, [1, 2]).map(plus_one)
    done, not_done = futures.wait()
    assert len(done) == 4 and not not_done


def test_chain_sync(fexec: Any) -> None:
    assert fexec.map(double, [1, 2]).map(plus_one, sync=True).get_result() == [3, 5]


def test_chain_stops_on_upstream_error(fexec: Any) -> None:
    futures = fexec.map(fail_on_three, [1, 3]).map(double)
    with pytest.raises(RuntimeError, match="three is not allowed"):
        futures.get_result()


# -- futures as input --------------------------------------------------------------------------------------------


def test_futures_as_map_input(fexec: Any) -> None:
    first = fexec.map(double, [1, 2, 3])
    second = fexec.map(plus_one, first)
    assert fexec.get_result(second) == [3, 5, 7]


def test_plain_list_of_futures_as_map_input(fexec: Any) -> None:
    first = [fexec.call_async(double, 10), fexec.call_async(double, 20)]
    assert fexec.map(plus_one, first).get_result() == [21, 41]


def test_future_as_call_async_input(fexec: Any) -> None:
    fut = fexec.call_async(double, 4)
    assert fexec.call_async(plus_one, fut).result() == 9


def test_map_reduce_over_futures(fexec: Any) -> None:
    first = fexec.map(double, [1, 2, 3])
    assert fexec.map_reduce(plus_one, first, total).get_result() == 15


# -- executors inside workers ----------------------------------------------------------------------------------


def test_returned_futures_are_followed(fexec: Any) -> None:
    fexec.call_async(spawn_inner_map, 3)
    assert fexec.get_result() == [0, 2, 4]


def test_returned_futures_flatten_in_place(fexec: Any) -> None:
    futures = fexec.map(spawn_inner_map, [2, 3])
    assert fexec.get_result(futures) == [0, 2, 0, 2, 4]
    assert all(f.futures is not None for f in futures)


def test_returned_future_mixed_with_plain_results(fexec: Any) -> None:
    outer = fexec.map(spawn_inner_call, [1, 5])
    plain = fexec.map(double, [7])
    assert lithops.get_result(list(outer) + list(plain)) == [2, 6, 14]


def test_nested_executor_waits_for_its_own_results(fexec: Any) -> None:
    results, marker, n = fexec.call_async(nested_wait, 4).result()
    assert results == [0, 2, 4, 6]
    assert marker == "1"
    assert n == 4


def test_nested_executors_in_parallel_map(fexec: Any) -> None:
    results = fexec.map(nested_wait, [1, 2]).get_result()
    assert [r[0] for r in results] == [[0], [0, 2]]
