"""Waiting on in-process fake backends: wait's return conditions, the per-future waiters and done-callbacks, the
monitor's storage polling and lost calls, and pickled copies of futures that learn their outcome from storage.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time

import pytest
from held_calls import Events, held, hold

from lithops import monitor
from lithops.errors import WaitTimeoutError, WorkerDiedError
from lithops.executors import FunctionExecutor
from lithops.futures import ResponseFuture
from lithops.wait import ALL_COMPLETED, ALWAYS, ANY_COMPLETED, get_result, wait


def fail(x: int) -> int:
    raise ValueError(f"bad {x}")


# -- return conditions -----------------------------------------------------------------------------------------
def test_any_completed_returns_as_soon_as_one_call_finishes(fexec: FunctionExecutor, events: Events) -> None:
    keys = hold(events, "a", "b", "c")
    futures = fexec.map(held, keys)
    threading.Timer(0.1, events["b"].set).start()
    done, not_done = wait(futures, return_when=ANY_COMPLETED, timeout=20)
    assert [f.result() for f in done] == ["b"] and len(not_done) == 2


def test_always_and_percentages(fexec: FunctionExecutor, events: Events) -> None:
    keys = hold(events, "a", "b", "c", "d")
    futures = fexec.map(held, keys)
    done, not_done = wait(futures, return_when=ALWAYS)
    assert (len(done), len(not_done)) == (0, 4)
    for key in keys[:2]:
        events[key].set()
    done, not_done = wait(futures, return_when=50, timeout=20)
    assert len(done) >= 2
    with pytest.raises(ValueError, match="percentage 0-100, got 150"):
        wait(futures, return_when=150)


def test_a_timeout_raises_and_the_futures_stay_usable(fexec: FunctionExecutor, events: Events) -> None:
    (key,) = hold(events, "slow")
    future = fexec.call_async(held, key)
    start = time.monotonic()
    with pytest.raises(WaitTimeoutError, match=r"timeout of 0\.2 s exceeded .*0 of 1 done"):
        wait([future], timeout=0.2)
    with pytest.raises(WaitTimeoutError):
        future.result(timeout=0.1)
    assert time.monotonic() - start < 10
    events[key].set()
    assert future.result(timeout=10) == "slow"


def test_a_failure_ends_the_wait_at_once_unless_told_otherwise(fexec: FunctionExecutor, events: Events) -> None:
    (key,) = hold(events, "other")
    slow = fexec.call_async(held, key)
    failing = fexec.call_async(fail, 1)
    with pytest.raises(ValueError, match="bad 1"):
        wait([slow, failing], timeout=20)
    assert not slow.finished
    done, not_done = wait([slow, failing], throw_except=False, return_when=ANY_COMPLETED, timeout=20)
    assert done == [failing] and not_done == [slow]
    events[key].set()
    assert get_result([slow, failing], throw_except=False) == ["other", None]


def test_a_wait_that_returns_early_leaves_no_waiter_behind(fexec: FunctionExecutor, events: Events) -> None:
    keys = hold(events, "a", "b")
    futures = fexec.map(held, keys)
    events["a"].set()
    wait(futures, return_when=ANY_COMPLETED, timeout=20)
    with pytest.raises(WaitTimeoutError):
        wait(futures, timeout=0.05)
    assert not futures[1]._waiters  # neither wait is still installed on the unfinished future


def test_many_threads_wait_for_one_future(fexec: FunctionExecutor, events: Events) -> None:
    (key,) = hold(events, "shared")
    future = fexec.call_async(held, key)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(future.result(timeout=20))) for _ in range(8)]
    for t in threads:
        t.start()
    events[key].set()
    for t in threads:
        t.join(20)
    assert results == ["shared"] * 8


def test_wait_on_futures_of_two_executors(fexec: FunctionExecutor, storage_fexec: FunctionExecutor) -> None:
    futures = list(fexec.map(str, [1, 2])) + list(storage_fexec.map(str, [3]))
    done, not_done = wait(futures, return_when=ALL_COMPLETED, timeout=20)
    assert [f.result() for f in done] == ["1", "2", "3"] and not not_done


# -- done-callbacks --------------------------------------------------------------------------------------------
def test_done_callbacks_run_once_when_the_call_finishes(fexec: FunctionExecutor, events: Events,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    (key,) = hold(events, "cb")
    future = fexec.call_async(held, key)
    seen: list[ResponseFuture] = []
    arrived = threading.Event()

    def record(f: ResponseFuture) -> None:
        seen.append(f)
        arrived.set()

    future.add_done_callback(lambda f: 1 / 0)  # logged; the others still run
    future.add_done_callback(record)
    assert not seen
    with caplog.at_level(logging.ERROR, logger="lithops.futures"):
        events[key].set()
        assert arrived.wait(10)
    assert seen == [future] and "a done-callback of" in caplog.text
    future.add_done_callback(seen.append)  # already finished: runs at once, here
    assert seen == [future, future]


# -- storage transport -----------------------------------------------------------------------------------------
def test_statuses_are_polled_from_storage(storage_fexec: FunctionExecutor) -> None:
    futures = storage_fexec.map(fail, [1]) + storage_fexec.map(str, [2, 3])
    assert get_result(futures, throw_except=False) == [None, "2", "3"]
    assert isinstance(futures[0].exception(), ValueError)
    assert futures[1].stats["host_status_query_count"] == 1


def test_a_call_that_never_reports_fails_after_its_timeout(storage_fexec: FunctionExecutor,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor, "STATUS_GRACE_SEC", 0)
    storage_fexec.compute.drop = {"00001"}  # type: ignore[attr-defined]
    futures = storage_fexec.map(str, [1, 2], timeout=0.3)
    with pytest.raises(WorkerDiedError, match=r"no status from 1 call\(s\) of job .* \(0.3 s\)"):
        futures.get_result(timeout=20)
    assert futures[0].result() == "1"


# -- pickled copies --------------------------------------------------------------------------------------------
def test_a_pickled_copy_learns_the_outcome_from_storage(fexec: FunctionExecutor, events: Events) -> None:
    """On a push backend, the executor writes the status of a future pickled before it finished to storage,
    where the copy (attached to no executor) reads it."""
    (key,) = hold(events, "later")
    future = fexec.call_async(held, key)
    copy = pickle.loads(pickle.dumps(future))
    assert copy.monitor is None and not copy.finished
    events[key].set()
    assert copy.result(timeout=20, wait_dur_sec=0.05) == "later"
    assert future.job_id in fexec.monitor.exported_jobs


def test_a_copy_of_a_finished_future_needs_no_storage(fexec: FunctionExecutor) -> None:
    future = fexec.call_async(fail, 5)
    future.exception()
    copy = pickle.loads(pickle.dumps(future))
    with pytest.raises(ValueError, match="bad 5"):
        copy.result()
