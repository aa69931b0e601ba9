"""lithops.backends.array_jobs: the watcher of array runs that backends share (AWS Batch, Code Engine, k8s).

The platform is a stand-in that says which indices of which run failed; the statuses are real documents in the
plugin template's in-memory storage, written as workers write them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from lithops_plugin_template.storage import MemoryStorage

from lithops.backends.array_jobs import CANCELLED, HEAD_LIMIT, ArrayJobs, ArrayRun, poll_interval
from lithops.errors import WorkerDiedError
from lithops.job.status import CallStatus, decode_exception
from lithops.storage.storage import Storage
from lithops.worker.handler import write_status

INTERVAL = 0.05
WAIT = 10.0


class Reports:
    """The statuses a run's reporter was given."""

    def __init__(self) -> None:
        self.statuses: list[CallStatus] = []
        self._cond = threading.Condition()

    def __call__(self, status: CallStatus) -> None:
        with self._cond:
            self.statuses.append(status)
            self._cond.notify_all()

    def wait_for(self, count: int) -> list[CallStatus]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.statuses) >= count, WAIT), self.statuses
            return list(self.statuses)

    def failed(self) -> dict[str, str]:
        """call id -> message of its error."""
        with self._cond:
            return {s.call_id: str(decode_exception(s.exception)) for s in self.statuses if s.exception}


class Platform:
    """A platform stand-in: ``failures[run name][index]`` is why that index failed; runs in ``ended`` are done."""

    def __init__(self) -> None:
        self.storage = Storage.from_handler(MemoryStorage({}))
        self.jobs = ArrayJobs(self, INTERVAL, "test-array-watch")
        self.failures: dict[str, dict[int, str]] = {}
        self.ended: set[str] = set()
        self.stopped: list[tuple[str, str]] = []
        self.stop_error: Exception | None = None
        self.poll_errors: list[Exception] = []
        self.hold: threading.Event | None = None
        self.polls = 0

    def job_storage(self) -> tuple[Storage, str]:
        return self.storage, "lithops_plugin_template.storage:MemoryStorage"

    def poll_runs(self, runs: list[ArrayRun]) -> None:
        self.polls += 1
        if self.poll_errors:
            raise self.poll_errors.pop(0)
        if self.hold is not None:
            self.hold.wait(WAIT)
        for run in runs:
            for index, reason in self.failures.get(run.name, {}).items():
                self.jobs.fail(run, [index], reason)
            if run.name in self.ended:
                self.jobs.finish(run)

    def index_failure(self, run: ArrayRun, index: int, reason: str) -> str:
        return f"fake run {run.name} (index {index}) of {run.job_key} failed: {reason}"

    def stop_run(self, run: ArrayRun, reason: str) -> None:
        self.stopped.append((run.name, reason))
        if self.stop_error is not None:
            raise self.stop_error

    def wait_polls(self, more: int) -> None:
        target = self.polls + more
        deadline = time.monotonic() + WAIT
        while self.polls < target:
            assert time.monotonic() < deadline, "the watcher stopped polling"
            time.sleep(0.01)


@pytest.fixture
def platform() -> Any:
    found = Platform()
    yield found
    if found.hold is not None:
        found.hold.set()
    found.jobs.close()


def new_run(name: str, groups: list[list[str]]) -> tuple[ArrayRun, Reports]:
    reports = Reports()
    return ArrayRun(f"x{uuid.uuid4().hex[:8]}", "M000", name, groups, reports), reports


def write_ok(platform: Platform, run: ArrayRun, call_id: str) -> None:
    status = CallStatus(run.executor_id, run.job_id, call_id, success=True, output=b"ok")
    write_status(platform.storage.storage_handler, platform.storage.bucket, status)


def test_a_failed_index_fails_its_calls_that_have_no_status_once(platform: Platform) -> None:
    run, reports = new_run("run-a", [["00000", "00001"], ["00002"], ["00003"]])
    write_ok(platform, run, "00001")  # the worker wrote this one before the container died
    platform.jobs.watch(run)
    platform.failures["run-a"] = {0: "OOMKilled", 7: "an index the run does not have"}
    reports.wait_for(1)
    platform.wait_polls(3)  # later polls see the same failure: it is reported once
    assert reports.failed() == {"00000": f"fake run run-a (index 0) of {run.job_key} failed: OOMKilled"}
    assert all(s.executor_id == run.executor_id and s.job_id == "M000" and not s.success for s in reports.statuses)
    assert isinstance(decode_exception(reports.statuses[0].exception or b""), WorkerDiedError)
    assert run.failed == {0}
    platform.failures["run-a"][2] = "Evicted"
    reports.wait_for(2)
    assert reports.failed()["00003"].endswith("(index 2) of " + run.job_key + " failed: Evicted")
    assert "00002" not in reports.failed()


def test_many_calls_are_checked_with_one_listing_and_the_same_outcome(platform: Platform) -> None:
    calls = [f"{i:05d}" for i in range(3 * HEAD_LIMIT)]
    run, reports = new_run("run-big", [calls])
    for call_id in calls[::2]:
        write_ok(platform, run, call_id)
    platform.jobs.watch(run)
    platform.failures["run-big"] = {0: "the queue cannot run it"}
    reports.wait_for(len(calls) // 2)
    platform.wait_polls(2)
    assert sorted(reports.failed()) == calls[1::2]


def test_a_run_watched_after_close_is_polled(platform: Platform) -> None:
    """close() stops the thread for good; the next watch() starts one of its own, which reports failures."""
    first, first_reports = new_run("run-1", [["00000"]])
    platform.jobs.watch(first)
    platform.wait_polls(1)
    platform.jobs.close()
    assert platform.jobs.watched() == []
    second, second_reports = new_run("run-2", [["00000"]])
    platform.jobs.watch(second)
    platform.failures.update({"run-1": {0: "gone"}, "run-2": {0: "image pull failed"}})
    assert second_reports.wait_for(1)[0].call_id == "00000"
    platform.wait_polls(2)
    assert first_reports.statuses == [], "a run forgotten by close() is not polled any more"


def test_close_waits_for_a_poll_under_way_a_bounded_time(platform: Platform) -> None:
    run, reports = new_run("run-h", [["00000"]])
    platform.hold = threading.Event()
    platform.jobs.CLOSE_TIMEOUT = 0.5
    platform.jobs.watch(run)
    platform.failures["run-h"] = {0: "crashed"}
    platform.wait_polls(1)  # now held inside the poll
    start = time.monotonic()
    platform.jobs.close()
    assert time.monotonic() - start < 3
    platform.hold.set()  # the held poll ends: it does not fail the calls of a run close() forgot
    time.sleep(5 * INTERVAL)
    assert reports.statuses == []


def test_cancel_stops_the_run_and_no_later_poll_fails_its_calls(platform: Platform,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    run, reports = new_run("run-c", [["00000"], ["00001"]])
    platform.jobs.watch(run)
    platform.wait_polls(1)
    platform.jobs.cancel([run.job_key, "not-a-job"])
    assert platform.stopped == [("run-c", CANCELLED)]
    platform.failures["run-c"] = {0: "terminated"}
    time.sleep(5 * INTERVAL)
    assert reports.statuses == []
    assert platform.jobs.run(run.job_key) is run and run.cancelled, "a cancelled run can still be looked up"
    platform.jobs.cancel([run.job_key])  # stopped once only
    assert len(platform.stopped) == 1
    # a platform that cannot stop a run: a warning, not an error
    other, _ = new_run("run-d", [["00000"]])
    platform.jobs.watch(other)
    platform.stop_error = RuntimeError("403 forbidden")
    with caplog.at_level(logging.WARNING, logger="lithops.backends.array_jobs"):
        platform.jobs.cancel([other.job_key])
    assert "could not stop run-d (cancelled by Lithops)" in caplog.text and "403 forbidden" in caplog.text


def test_stop_and_finish_end_the_polling_and_the_thread(platform: Platform) -> None:
    ended, _ = new_run("run-e", [["00000"]])
    stuck, stuck_reports = new_run("run-s", [["00000"], ["00001"]])
    platform.jobs.watch(ended)
    platform.jobs.watch(stuck)
    platform.stop_error = RuntimeError("already gone")  # best effort: stop() does not raise
    platform.ended.add("run-e")
    platform.failures["run-s"] = {0: "no capacity", 1: "no capacity"}
    original = platform.poll_runs

    def poll_and_stop(runs: list[ArrayRun]) -> None:
        original(runs)
        for run in runs:
            if run.name == "run-s":
                platform.jobs.stop(run, "the queue cannot run it")

    platform.poll_runs = poll_and_stop  # type: ignore[method-assign]
    assert len(stuck_reports.wait_for(2)) == 2
    deadline = time.monotonic() + WAIT
    while platform.jobs.watched() or any(t.name == "test-array-watch" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the thread ends once no run is watched"
        time.sleep(0.01)
    assert platform.stopped == [("run-s", "the queue cannot run it")]
    assert platform.jobs.run(ended.job_key) is ended, "ended runs can still be cancelled"


def test_a_poll_that_raises_is_tried_again(platform: Platform) -> None:
    run, reports = new_run("run-r", [["00000"]])
    platform.poll_errors = [ConnectionError("API down"), ConnectionError("API down")]
    platform.failures["run-r"] = {0: "crashed"}
    platform.jobs.watch(run)
    reports.wait_for(1)
    assert platform.polls >= 3


def test_poll_interval_follows_the_config_with_a_floor() -> None:
    backend: Any = SimpleNamespace(lithops_config={"lithops": {"monitoring_interval": 0.1}}, status_interval=None)
    assert poll_interval(backend, 0.5) == 0.5
    backend.lithops_config = {"lithops": {"monitoring_interval": 3}}
    assert poll_interval(backend, 0.5) == 3.0
    backend.lithops_config, backend.status_interval = {}, 0.75
    assert poll_interval(backend, 0.25) == 0.75
    backend.status_interval = None
    assert poll_interval(backend, 0.25) == 2.0


def test_an_index_whose_statuses_could_not_be_read_is_failed_at_a_later_poll(platform: Platform) -> None:
    run, reports = new_run("run-u", [["00000"]])
    original = platform.job_storage
    calls = []

    def storage_down_once() -> tuple[Storage, str]:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("storage unreachable")
        return original()

    platform.job_storage = storage_down_once  # type: ignore[method-assign]
    platform.failures["run-u"] = {0: "crashed"}
    platform.jobs.watch(run)
    assert reports.wait_for(1)[0].call_id == "00000"
    assert len(calls) == 2
