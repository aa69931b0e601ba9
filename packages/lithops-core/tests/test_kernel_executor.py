"""The executor's logic on in-process fake backends: results, chaining, cancel, Ctrl-C, retries, transports.

Calls run in threads of this process (fake_plugins/inprocess_backend.py), so a test can hold a call on an
event of this module and count attempts in a global.
"""

from __future__ import annotations

import csv
import os
import pickle
import signal
import threading
from pathlib import Path

import pytest
from held_calls import Events, held, hold

from conftest import inprocess_config
from lithops.errors import BackendError, JobCancelledError
from lithops.executors import FunctionExecutor
from lithops.futures import FuturesList
from lithops.job.job import job_prefix
from lithops.plugins.manager import PluginRegistry
from lithops.retries import RetryingFunctionExecutor

ATTEMPTS: dict[int, int] = {}


def double(x: int) -> int:
    return 2 * x


def plus_one(x: int) -> int:
    return x + 1


def total(values: list[int]) -> int:
    return sum(values)


def fail_on_three(x: int) -> int:
    if x == 3:
        raise RuntimeError("three is not allowed")
    return x


def flaky(x: int) -> int:
    """Fails the first two times it runs for ``x``."""
    ATTEMPTS[x] = ATTEMPTS.get(x, 0) + 1
    if ATTEMPTS[x] <= 2:
        raise ConnectionError(f"attempt {ATTEMPTS[x]} of {x}")
    return x * 10


# -- results ---------------------------------------------------------------------------------------------------
def test_call_async_map_and_map_reduce(fexec: FunctionExecutor) -> None:
    assert fexec.call_async(double, 21).result() == 42
    assert fexec.map(double, [1, 2, 3]).get_result() == [2, 4, 6]
    assert fexec.map_reduce(double, range(5), total).get_result() == 20


def test_get_result_without_futures_returns_each_result_once(fexec: FunctionExecutor) -> None:
    fexec.map(double, [1, 2])
    assert fexec.get_result() == [2, 4]
    fexec.map(plus_one, [10])
    assert fexec.get_result() == [11]
    assert fexec.get_result() == []


def test_a_failed_call_raises_its_exception_or_gives_none(fexec: FunctionExecutor) -> None:
    futures = fexec.map(fail_on_three, [1, 3])
    with pytest.raises(RuntimeError, match="three is not allowed"):
        futures.get_result()
    assert fexec.get_result(futures, throw_except=False) == [1, None]


# -- chaining --------------------------------------------------------------------------------------------------
def test_chained_stages_return_only_the_last(fexec: FunctionExecutor) -> None:
    assert fexec.map(double, [1, 2, 3]).map(plus_one).map(double).get_result() == [6, 10, 14]
    assert fexec.map(double, [1, 2, 3]).map_reduce(plus_one, total).get_result() == 15


def test_futures_as_input_are_consumed(fexec: FunctionExecutor) -> None:
    first = fexec.map(double, [1, 2])
    second = fexec.map(plus_one, first[:1])
    assert all(f.consumed for f in first[:1]) and not first[1].consumed
    assert fexec.get_result(list(first) + list(second)) == [4, 3]
    assert fexec.call_async(plus_one, fexec.call_async(double, 4)).result() == 9


def test_a_chained_job_starts_only_when_its_input_is_done(fexec: FunctionExecutor, events: Events) -> None:
    (key,) = hold(events, "first")
    first = fexec.call_async(held, key)
    second = fexec.call_async(str.upper, first)
    assert second.new and len(fexec.compute.jobs) == 1  # type: ignore[attr-defined]
    events[key].set()
    assert second.result(timeout=10) == "FIRST"


def test_a_failed_input_fails_the_chained_job(fexec: FunctionExecutor) -> None:
    futures = fexec.map(fail_on_three, [1, 3]).map(double)
    with pytest.raises(RuntimeError, match="three is not allowed"):
        futures.get_result()
    assert isinstance(futures[-1].exception(timeout=10), RuntimeError)


def test_futures_mixed_with_plain_values_are_refused(fexec: FunctionExecutor) -> None:
    with pytest.raises(ValueError, match="mixes 1 futures of earlier calls with 1 plain"):
        fexec.map(double, [fexec.call_async(double, 1), 2])


def test_an_unpickled_list_chains_on_an_executor_of_the_same_class(fexec: FunctionExecutor, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("lithops:\n  backend: inprocess\n  storage: template_storage\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(config))
    futures = fexec.map(double, [1, 2])
    futures.wait()
    copy = pickle.loads(pickle.dumps(futures))
    assert copy.executor is None
    assert copy.map(plus_one).get_result() == [3, 5]
    assert type(copy.executor) is FunctionExecutor and copy.executor is not fexec
    copy.executor.close()


def test_a_list_not_made_by_an_executor_says_how_to_chain(fexec: FunctionExecutor) -> None:
    with pytest.raises(TypeError, match=r"fexec.map\(func, futures\)"):
        FuturesList(fexec.map(double, [1])).map(plus_one)


# -- cancelling ------------------------------------------------------------------------------------------------
def test_cancel_fails_the_call_and_what_depends_on_it(fexec: FunctionExecutor, events: Events) -> None:
    (key,) = hold(events, "c")
    future = fexec.call_async(held, key)
    dependent = fexec.call_async(str.upper, future)
    assert future.cancel() is True and future.cancelled()
    with pytest.raises(JobCancelledError, match=r"cancelled with future\.cancel"):
        future.result()
    with pytest.raises(JobCancelledError):
        dependent.result(timeout=10)
    done = fexec.call_async(double, 1)
    done.result()
    assert done.cancel() is False and not done.cancelled()


def test_clean_force_cancels_unfinished_calls_on_the_backend(fexec: FunctionExecutor, events: Events) -> None:
    keys = hold(events, "a", "b")
    futures = fexec.map(held, keys)
    fexec.clean(force=True)
    assert all(f.error for f in futures)
    assert fexec.compute.cancelled == {futures[0].job_key}  # type: ignore[attr-defined]


def test_ctrl_c_while_waiting_cancels_the_unfinished_calls(fexec: FunctionExecutor, events: Events) -> None:
    keys = hold(events, "x", "y")
    futures = fexec.map(held, keys)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # what Ctrl-C sends
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fexec.wait(futures, timeout=20)
    finally:
        timer.cancel()
    assert all(isinstance(f.exception(), JobCancelledError) for f in futures)
    assert futures[0].job_key in fexec.compute.cancelled  # type: ignore[attr-defined]


# -- retries ---------------------------------------------------------------------------------------------------
def test_retrying_executor_resubmits_failed_calls(fexec: FunctionExecutor) -> None:
    ATTEMPTS.clear()
    with RetryingFunctionExecutor(fexec) as retrying:
        futures = retrying.map(flaky, [1, 2], retries=2)
        done, pending = retrying.wait(futures)
    assert not pending and sorted(f.result() for f in done) == [10, 20]
    assert ATTEMPTS == {1: 3, 2: 3}


def test_retrying_executor_gives_up_after_its_retries(fexec: FunctionExecutor) -> None:
    ATTEMPTS.clear()
    retrying = RetryingFunctionExecutor(fexec)
    futures = retrying.map(flaky, [7], retries=1)
    retrying.wait(futures, throw_except=False)
    with pytest.raises(ConnectionError, match="attempt 2 of 7"):
        futures[0].result()


# -- submission and transports ---------------------------------------------------------------------------------
def test_a_backend_that_cannot_start_a_job_fails_its_futures(fexec: FunctionExecutor) -> None:
    fexec.compute.invoke_error = OSError("no capacity")  # type: ignore[attr-defined]
    with pytest.raises(BackendError, match=r"backend 'inprocess' could not start job .*OSError: no capacity"):
        fexec.map(double, [1, 2])
    assert len(fexec.futures) == 2 and all(f.error for f in fexec.futures)


def test_a_backend_with_an_unknown_transport_is_refused(inprocess: PluginRegistry) -> None:
    with pytest.raises(BackendError, match=r"'inprocess_pigeon' declares transport 'pigeon'.*'storage', 'push'"):
        FunctionExecutor(config=inprocess_config("inprocess_pigeon"), log_level=None)


def test_the_storage_transport_uploads_and_cleans_the_job(storage_fexec: FunctionExecutor) -> None:
    futures = storage_fexec.map(double, [1, 2, 3])
    assert futures.get_result() == [2, 4, 6]
    storage = storage_fexec.storage
    prefix = job_prefix(futures[0].executor_id, futures[0].job_id)
    keys = storage.list_keys(storage.bucket, f"{prefix}/")
    assert f"{prefix}/func.pickle" in keys and f"{prefix}/00002/status.json" in keys
    assert storage_fexec.monitor.storage_requests >= 1
    storage_fexec.close()
    assert storage.list_keys(storage.bucket, f"{prefix}/") == []


def test_job_summary_and_its_csv(fexec: FunctionExecutor, tmp_path: Path) -> None:
    fexec.map(fail_on_three, [1, 2, 3]).wait(throw_except=False)
    dst = tmp_path / "out" / "summary.csv"
    rows = fexec.job_summary(cloud_objects_n=4, dst=str(dst))
    assert [(r["function"], r["calls"], r["finished"], r["failed"]) for r in rows] == [("fail_on_three", 3, 3, 1)]
    with open(dst, newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["job_id"] for r in table] == ["M000", "Summary"] and table[1]["cloud_objects"] == "4"
