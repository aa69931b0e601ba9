"""lithops.concurrent.futures: a real concurrent.futures.Executor over Lithops, on the localhost backend."""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import lithops
from lithops.concurrent import futures as lcf


@pytest.fixture
def pool(warm_pool: None) -> Iterator[lcf.ProcessPoolExecutor]:
    with lcf.ProcessPoolExecutor() as executor:
        yield executor


def slow_square(x: int, delay: float = 0.0) -> int:
    time.sleep(delay)
    return x * x


def fail(x: int) -> float:
    return 1 / x


def client(executor_class: type[cf.Executor]) -> tuple[Any, ...]:
    """Code written for the standard library, run unchanged with either import."""
    with executor_class(max_workers=2) as executor:
        futures = {executor.submit(slow_square, n): n for n in range(6)}
        done = {futures[f]: f.result() for f in cf.as_completed(futures, timeout=60)}
        mapped = list(executor.map(slow_square, range(4), timeout=60))
        powered = executor.submit(pow, 2, 8).result(timeout=60)
        error = executor.submit(fail, 0).exception(timeout=60)
    return done, mapped, powered, type(error)


def test_same_client_code_as_process_pool(warm_pool: None) -> None:
    assert client(lcf.ProcessPoolExecutor) == client(cf.ProcessPoolExecutor)


def test_types_and_names() -> None:
    assert issubclass(lcf.FunctionExecutor, cf.Executor)
    assert issubclass(lcf.Future, cf.Future)
    for name in ("ThreadPoolExecutor", "ProcessPoolExecutor", "LocalhostExecutor", "ServerlessExecutor",
                 "StandaloneExecutor"):
        assert issubclass(getattr(lcf, name), lcf.FunctionExecutor)
    assert lcf.wait is cf.wait and lcf.as_completed is cf.as_completed
    assert (lcf.ALL_COMPLETED, lcf.FIRST_COMPLETED, lcf.FIRST_EXCEPTION) == (
        cf.ALL_COMPLETED, cf.FIRST_COMPLETED, cf.FIRST_EXCEPTION)
    assert lcf.CancelledError is cf.CancelledError and lcf.TimeoutError is cf.TimeoutError


def test_submit_args_kwargs_and_lithops_future(pool: lcf.ProcessPoolExecutor) -> None:
    future = pool.submit(slow_square, 7, delay=0.01)
    assert isinstance(future, lcf.Future)
    assert future.result(timeout=60) == 49
    assert future.done() and not future.cancelled() and not future.running()
    assert isinstance(future.lithops_future, lithops.futures.ResponseFuture)
    assert future.stats  # the Lithops call's statistics


def test_exceptions_are_the_function_s(pool: lcf.ProcessPoolExecutor) -> None:
    future = pool.submit(fail, 0)
    assert isinstance(future.exception(timeout=60), ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        future.result()
    with pytest.raises(ZeroDivisionError):
        list(pool.map(fail, [1, 0, 2], timeout=60))


def test_wait_mixes_with_other_executors(pool: lcf.ProcessPoolExecutor) -> None:
    with cf.ThreadPoolExecutor(1) as threads:
        slow = pool.submit(slow_square, 3, delay=5)
        quick = threads.submit(abs, -5)
        fast = pool.submit(slow_square, 2)
        done, not_done = cf.wait([slow, quick, fast], timeout=60, return_when=cf.FIRST_COMPLETED)
        assert done and slow in not_done
        done, not_done = cf.wait([quick, fast], timeout=60)
        assert done == {quick, fast} and not not_done
        assert cf.wait([slow], timeout=0.2).not_done == {slow}
        assert not slow.cancel()  # already handed to Lithops: running, cannot be recalled
        assert slow.running()


def test_as_completed_yields_in_finishing_order(pool: lcf.ProcessPoolExecutor) -> None:
    slow = pool.submit(slow_square, 1, delay=4)
    fast = pool.submit(slow_square, 2)
    assert next(cf.as_completed([slow, fast], timeout=60)) is fast
    with pytest.raises(cf.TimeoutError):
        list(cf.as_completed([pool.submit(slow_square, 3, delay=3)], timeout=0.3))


def test_add_done_callback(pool: lcf.ProcessPoolExecutor) -> None:
    seen: list[Any] = []
    called = threading.Event()
    future = pool.submit(slow_square, 4, delay=0.2)
    future.add_done_callback(lambda f: (seen.append(f.result()), called.set()))
    assert called.wait(60) and seen == [16]
    future.add_done_callback(lambda f: seen.append("late"))  # already done: runs at once
    assert seen == [16, "late"]


def test_map_order_chunksize_buffersize_timeout(pool: lcf.ProcessPoolExecutor) -> None:
    assert list(pool.map(slow_square, range(10), chunksize=3)) == [n * n for n in range(10)]
    assert list(pool.map(pow, [2, 3], [5, 2])) == [32, 9]
    assert list(pool.map(slow_square, [])) == []
    assert list(pool.map(slow_square, range(7), buffersize=2)) == [n * n for n in range(7)]
    results = pool.map(slow_square, [1, 2], [0, 3], timeout=0.5)
    assert next(results) == 1
    with pytest.raises(cf.TimeoutError):
        next(results)
    with pytest.raises(ValueError, match="chunksize"):
        pool.map(abs, [1], chunksize=0)


def test_shutdown(warm_pool: None) -> None:
    executor = lcf.ProcessPoolExecutor()
    future = executor.submit(slow_square, 5, delay=0.5)
    executor.shutdown(wait=True)
    assert future.done() and future.result() == 25
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(abs, 1)
    executor = lcf.ProcessPoolExecutor()
    future = executor.submit(slow_square, 6, delay=0.5)
    start = time.monotonic()
    executor.shutdown(wait=False, cancel_futures=True)
    assert time.monotonic() - start < 0.4
    assert future.result(timeout=60) == 36


def test_wraps_an_existing_executor(fexec: Any) -> None:
    with lcf.FunctionExecutor(executor=fexec) as executor:
        assert executor.lithops_executor is fexec
        assert executor.submit(pow, 2, 8).result(timeout=60) == 256
    assert fexec.call_async(abs, -2).result() == 2  # not closed: it belongs to the caller
    with pytest.raises(TypeError, match="executor="):
        lcf.FunctionExecutor(executor=fexec, backend="localhost")


_initialized: list[Any] = []


def remember(value: Any) -> None:
    _initialized.append((value, os.getpid()))


def initialized(_: int) -> list[Any]:
    return [value for value, pid in _initialized if pid == os.getpid()]


def test_initializer_runs_once_per_worker_process(warm_pool: None) -> None:
    with lcf.ProcessPoolExecutor(initializer=remember, initargs=("ready",)) as executor:
        for observed in executor.map(initialized, range(6)):
            assert observed == ["ready"]
    with pytest.raises(TypeError, match="callable"):
        lcf.ProcessPoolExecutor(initializer="not callable")  # type: ignore[arg-type]


def test_accepts_the_standard_executors_arguments(warm_pool: None) -> None:
    with lcf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="x") as threads:
        assert threads.submit(abs, -1).result(timeout=60) == 1
    with lcf.ProcessPoolExecutor(max_workers=2, mp_context=None, max_tasks_per_child=3) as procs:
        assert procs.submit(abs, -2).result(timeout=60) == 2
    with pytest.raises(ValueError, match="max_workers"):
        lcf.ProcessPoolExecutor(max_workers=0)


def test_an_argument_that_cannot_be_pickled_fails_its_future(pool: lcf.ProcessPoolExecutor) -> None:
    """As with the standard ProcessPoolExecutor: submit returns, and the future holds the pickling error."""
    future = pool.submit(slow_square, threading.Lock())
    with pytest.raises(TypeError, match="pickle"):
        future.result(timeout=60)
    results = pool.map(slow_square, [1, threading.Lock()])
    with pytest.raises(TypeError, match="pickle"):
        list(results)
    assert pool.submit(slow_square, 3).result(timeout=60) == 9


def test_runs_on_a_serverless_backend(sim_config: dict[str, Any]) -> None:
    """The same client code on a backend whose workers report through storage (the simulated serverless one)."""
    with lcf.ProcessPoolExecutor(config=sim_config) as executor:
        futures = [executor.submit(slow_square, n) for n in range(4)]
        assert sorted(f.result() for f in cf.as_completed(futures, timeout=120)) == [0, 1, 4, 9]
        assert list(executor.map(slow_square, range(5), timeout=120)) == [0, 1, 4, 9, 16]
        assert isinstance(executor.submit(fail, 0).exception(timeout=120), ZeroDivisionError)
