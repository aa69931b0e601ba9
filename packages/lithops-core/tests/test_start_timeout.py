"""A call the backend never starts fails within the backend's start-up bound (``ComputeBackend.start_timeout``),
naming the backend, instead of after the execution timeout plus grace (about 31 minutes by default)."""

import time

import pytest

from conftest import inprocess_config
from lithops.errors import BackendError
from lithops.executors import FunctionExecutor


def slow_identity(x, seconds=0.0):
    time.sleep(seconds)
    return x


@pytest.fixture
def quick(inprocess):
    """An executor on ``inprocess_quickstart``: storage transport, a start-up bound of 1 s."""
    executor = FunctionExecutor(config=inprocess_config("inprocess_quickstart"), log_level=None)
    try:
        yield executor
    finally:
        executor.close()


def test_a_call_never_started_fails_within_the_start_bound_naming_the_backend(quick):
    quick.compute.never_start = {"00001"}
    begin = time.monotonic()
    futures = quick.map(slow_identity, [1, 2, 3])
    quick.wait(futures, throw_except=False, timeout=30)
    assert time.monotonic() - begin < 15
    assert [futures[0].result(), futures[2].result()] == [1, 3]
    with pytest.raises(BackendError, match=r"1 call\(s\) of job .* never started by compute backend "
                                           r"'inprocess_quickstart'.*within 1 s"):
        futures[1].result()


def test_a_started_call_may_run_longer_than_the_start_bound(quick):
    assert quick.call_async(slow_identity, ("done", 2.5)).result(timeout=30) == "done"


def test_calls_queued_behind_running_ones_are_not_taken_for_never_started(inprocess):
    """One call at a time: the second starts only when the first, longer than the bound, has ended."""
    config = inprocess_config("inprocess_quickstart")
    config["inprocess_quickstart"] = {"max_workers": 1}
    executor = FunctionExecutor(config=config, log_level=None)
    try:
        futures = executor.map(slow_identity, [(1, 1.5), (2, 1.5)])
        assert futures.get_result(timeout=30) == [1, 2]
    finally:
        executor.close()


def test_workers_that_write_no_start_markers_keep_working(quick):
    """A status without a start marker (a worker older than markers) turns the bound off for its job."""
    quick.compute.write_markers = False
    futures = quick.map(slow_identity, [(1, 0.0), (2, 2.5)])
    assert futures.get_result(timeout=30) == [1, 2]


def test_the_start_bound_counts_from_the_end_of_invoke(quick):
    """A backend whose invoke takes longer than its start bound (it boots machines first) loses no call."""
    quick.compute.invoke_delay = 1.5
    assert quick.map(slow_identity, [(1, 0.0), (2, 0.0)]).get_result(timeout=30) == [1, 2]


def test_calls_queued_behind_another_job_of_the_executor_are_not_taken_for_never_started(inprocess):
    config = inprocess_config("inprocess_quickstart")
    config["inprocess_quickstart"] = {"max_workers": 1}
    executor = FunctionExecutor(config=config, log_level=None)
    try:
        first = executor.call_async(slow_identity, ("first", 2.5))
        second = executor.call_async(slow_identity, ("second", 0.0))  # waits for the only worker
        assert (first.result(timeout=30), second.result(timeout=30)) == ("first", "second")
    finally:
        executor.close()
