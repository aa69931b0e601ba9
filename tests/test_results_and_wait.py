"""Shapes of get_result, and wait() with every return_when, timeouts and throw_except."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lithops
from lithops.errors import WaitTimeoutError
from lithops.futures import FuturesList, ResponseFuture
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED


def ident(x: Any) -> Any:
    return x


def square(x: int) -> int:
    return x * x


def total(results: list[int]) -> int:
    return sum(results)


def gated(value: Any, gate: str) -> Any:
    """Return ``value`` once the file ``gate`` exists (or after 20 s, so a failed test leaves nothing behind)."""
    deadline = time.monotonic() + 20
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def fail_if_negative(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative input {x}")
    return x


class Gate:
    """A file that gated calls wait for; opened at the end of the test whatever happens."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def open(self) -> None:
        Path(self.path).touch()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    g = Gate(tmp_path / "gate")
    try:
        yield g
    finally:
        g.open()


@pytest.fixture(scope="module")
def wexec() -> Iterator[Any]:
    """Four workers: enough that a fast call never queues behind the gated ones of the same test."""
    executor = lithops.FunctionExecutor(worker_processes=4, log_level=None)
    try:
        yield executor
    finally:
        executor.close()


def split_calls(fexec: Any, gate: Gate, fast: list[Any], slow: list[Any]) -> tuple[list[Any], list[Any]]:
    """Submit fast calls and gated calls as separate jobs; return their futures."""
    fast_fs = fexec.map(ident, fast) if fast else []
    slow_fs = fexec.map(gated, slow, extra_args=(gate.path,)) if slow else []
    return list(fast_fs), list(slow_fs)


# -- get_result shapes -----------------------------------------------------------------------------------------


def test_call_async_result_is_bare(fexec: Any) -> None:
    fexec.call_async(ident, [1, 2])
    assert fexec.get_result() == [1, 2]


def test_get_result_of_one_future_is_bare(fexec: Any) -> None:
    fut = fexec.call_async(square, 3)
    assert fexec.get_result(fs=fut) == 9
    assert fexec.get_result(fut) == 9


def test_map_of_one_element_is_a_list(fexec: Any) -> None:
    fexec.map(square, [4])
    assert fexec.get_result() == [16]


def test_map_results_in_order(fexec: Any) -> None:
    futures = fexec.map(square, range(20))
    assert isinstance(futures, FuturesList)
    assert all(isinstance(f, ResponseFuture) for f in futures)
    assert fexec.get_result(futures) == [x * x for x in range(20)]


def test_get_result_without_fs_returns_only_new_results(fexec: Any) -> None:
    fexec.map(square, [1, 2])
    assert fexec.get_result() == [1, 4]
    fexec.map(square, [3, 4])
    assert fexec.get_result() == [9, 16]
    fexec.map(square, [5])
    fexec.map(square, [6, 7])
    assert fexec.get_result() == [25, 36, 49]


def test_get_result_with_fs_can_repeat(fexec: Any) -> None:
    futures = fexec.map(square, [1, 2, 3])
    assert fexec.get_result(futures) == [1, 4, 9]
    assert fexec.get_result(futures) == [1, 4, 9]
    assert [f.result() for f in futures] == [1, 4, 9]


def test_module_get_result_is_always_a_list(fexec: Any) -> None:
    fut = fexec.call_async(square, 5)
    assert lithops.get_result(fut) == [25]
    assert lithops.get_result([fut]) == [25]
    futures = fexec.map(square, [1, 2])
    assert lithops.get_result(futures) == [1, 4]


def test_get_result_over_several_executors(fexec: Any) -> None:
    with lithops.FunctionExecutor(log_level=None) as other:
        a = fexec.map(square, [1, 2])
        b = other.map(square, [3])
        assert lithops.get_result(list(a) + list(b)) == [1, 4, 9]


def test_map_reduce_returns_the_reducer_result_only(fexec: Any) -> None:
    futures = fexec.map_reduce(square, [1, 2, 3, 4], total)
    assert fexec.get_result(futures) == 30
    # reading with an explicit fs does not consume the results for get_result() without fs
    assert fexec.get_result() == 30
    assert fexec.get_result() == []


def test_map_reduce_get_result_without_fs(fexec: Any) -> None:
    fexec.map_reduce(square, [1, 2, 3], total)
    assert fexec.get_result() == 14


def test_reducer_receives_map_results_in_call_order(fexec: Any) -> None:
    data = list(range(30))
    assert fexec.map_reduce(square, data, ident).get_result() == [x * x for x in data]


def test_map_reduce_extra_args_reduce(fexec: Any) -> None:
    def reducer(results: list[int], scale: int, offset: int = 0) -> int:
        return sum(results) * scale + offset

    futures = fexec.map_reduce(square, [1, 2], reducer, extra_args_reduce=(10,))
    assert fexec.get_result(futures) == 50
    futures = fexec.map_reduce(square, [1, 2], reducer, extra_args_reduce={"scale": 2, "offset": 1})
    assert fexec.get_result(futures) == 11


def test_map_reduce_with_map_extra_args(fexec: Any) -> None:
    def mul(x: int, k: int) -> int:
        return x * k

    assert fexec.map_reduce(mul, [1, 2, 3], total, extra_args=(3,)).get_result() == 18


def test_map_reduce_futures_include_map_and_reduce(fexec: Any) -> None:
    futures = fexec.map_reduce(square, [1, 2, 3], total)
    assert len(futures) == 4
    assert futures[-1].result() == 14
    assert [f.result() for f in futures[:3]] == [1, 4, 9]


# -- wait ------------------------------------------------------------------------------------------------------


def test_wait_all_completed(wexec: Any) -> None:
    futures = wexec.map(square, range(8))
    done, not_done = wexec.wait(futures, return_when=ALL_COMPLETED)
    assert len(done) == 8 and len(not_done) == 0
    assert all(f.done and f.finished and not f.error for f in done)
    assert [f.result() for f in futures] == [x * x for x in range(8)]


def test_wait_any_completed(wexec: Any, gate: Gate) -> None:
    fast, slow = split_calls(wexec, gate, ["fast"], ["slow1", "slow2"])
    done, not_done = wexec.wait(fast + slow, return_when=ANY_COMPLETED)
    assert fast[0] in done
    assert set(slow) <= set(not_done)
    assert len(done) + len(not_done) == 3
    gate.open()
    assert wexec.get_result(slow) == ["slow1", "slow2"]


def test_wait_always_returns_at_once(wexec: Any, gate: Gate) -> None:
    _, slow = split_calls(wexec, gate, [], ["a", "b"])
    start = time.monotonic()
    done, not_done = wexec.wait(slow, return_when=ALWAYS)
    assert time.monotonic() - start < 2
    assert list(done) == [] and set(not_done) == set(slow)
    gate.open()
    done, not_done = wexec.wait(slow, return_when=ALL_COMPLETED)
    assert set(done) == set(slow) and not not_done


def test_wait_always_after_finish_reports_done(wexec: Any) -> None:
    futures = wexec.map(square, [1, 2])
    wexec.wait(futures)
    done, not_done = wexec.wait(futures, return_when=ALWAYS)
    assert len(done) == 2 and not not_done


def test_wait_percentage(wexec: Any, gate: Gate) -> None:
    fast, slow = split_calls(wexec, gate, [1, 2], [3, 4])
    done, not_done = wexec.wait(fast + slow, return_when=50)
    assert set(fast) <= set(done)
    assert set(slow) == set(not_done)
    gate.open()
    assert wexec.get_result(fast + slow) == [1, 2, 3, 4]


def test_wait_timeout_raises_and_futures_stay_usable(wexec: Any, gate: Gate) -> None:
    _, slow = split_calls(wexec, gate, [], ["late"])
    start = time.monotonic()
    with pytest.raises(WaitTimeoutError) as info:
        wexec.wait(slow, timeout=0.3)
    assert isinstance(info.value, TimeoutError)
    assert 0.25 <= time.monotonic() - start < 5
    assert not slow[0].finished
    gate.open()
    done, not_done = wexec.wait(slow)
    assert list(done) == slow and not not_done
    assert slow[0].result() == "late"


def test_get_result_timeout(wexec: Any, gate: Gate) -> None:
    _, slow = split_calls(wexec, gate, [], ["x"])
    with pytest.raises(TimeoutError):
        wexec.get_result(slow, timeout=0.2)
    gate.open()
    assert wexec.get_result(slow) == ["x"]


def test_module_wait_timeout(wexec: Any, gate: Gate) -> None:
    _, slow = split_calls(wexec, gate, [], ["y"])
    with pytest.raises(WaitTimeoutError):
        lithops.wait(slow, timeout=0.2)
    gate.open()
    assert lithops.get_result(slow) == ["y"]


def test_future_result_timeout(wexec: Any, gate: Gate) -> None:
    fut = wexec.call_async(gated, ("z", gate.path))
    with pytest.raises(TimeoutError):
        fut.result(timeout=0.2)
    gate.open()
    assert fut.result() == "z"


def test_wait_throw_except_true_raises(wexec: Any) -> None:
    futures = wexec.map(fail_if_negative, [1, -2, 3])
    with pytest.raises(ValueError, match="negative input -2"):
        wexec.wait(futures, throw_except=True)


def test_wait_throw_except_false_does_not_raise(wexec: Any) -> None:
    futures = wexec.map(fail_if_negative, [1, -2, 3])
    done, not_done = wexec.wait(futures, throw_except=False)
    assert len(done) == 3 and not not_done
    assert [f.error for f in futures] == [False, True, False]
    assert wexec.get_result(futures, throw_except=False) == [1, None, 3]


def test_get_result_throw_except(wexec: Any) -> None:
    futures = wexec.map(fail_if_negative, [-1, 2])
    with pytest.raises(ValueError, match="negative input -1"):
        wexec.get_result(futures)


def test_module_level_wait_is_callable_and_a_module(wexec: Any) -> None:
    futures = wexec.map(square, [2, 3])
    done, not_done = lithops.wait(futures, return_when=lithops.wait.ALL_COMPLETED)
    assert len(done) == 2 and not not_done
    assert lithops.wait.ALL_COMPLETED == ALL_COMPLETED == 100
    assert lithops.wait.ANY_COMPLETED == ANY_COMPLETED == -1
    assert lithops.wait.ALWAYS == ALWAYS == 0


def test_module_level_wait_single_future(wexec: Any) -> None:
    fut = wexec.call_async(square, 6)
    done, not_done = lithops.wait(fut)
    assert list(done) == [fut] and not not_done
    assert fut.result() == 36


def test_wait_on_nothing(wexec: Any) -> None:
    assert lithops.wait([]) == ([], [])
    assert lithops.get_result([]) == []


def test_wait_download_results(wexec: Any) -> None:
    futures = wexec.map(square, [5, 6])
    done, _ = wexec.wait(futures, download_results=True)
    assert all(f.done for f in done)
    assert [f.result() for f in futures] == [25, 36]


def test_wait_invalid_return_when(wexec: Any) -> None:
    futures = wexec.map(square, [1])
    with pytest.raises(ValueError, match="return_when"):
        wexec.wait(futures, return_when=150)
    wexec.wait(futures)


def test_wait_without_fs_waits_for_all_executor_futures(fexec: Any) -> None:
    fexec.map(square, [1, 2])
    fexec.call_async(square, 3)
    done, not_done = fexec.wait()
    assert len(done) == 3 and not not_done


def test_future_states(fexec: Any) -> None:
    fut = fexec.call_async(square, 7)
    fexec.wait([fut])
    # as in Lithops: the status (with the result) arrived, so the call is done; success is only set on errors
    assert fut.done and fut.finished and not fut.success and not fut.ready and not fut.error and not fut.running
    assert fut.result() == 49
    assert fut.done and not fut.success and not fut.ready and not fut.running
    assert fut.stats["worker_func_exec_time"] >= 0
