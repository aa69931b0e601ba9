"""The executor's monitor holds a record of each call only until the call's outcome is known."""

from __future__ import annotations

from typing import Any

from held_calls import Events, held, hold

from lithops.executors import FunctionExecutor


def noop(x: Any) -> Any:
    return x


def test_finished_calls_leave_no_record_in_the_monitor(fexec: FunctionExecutor) -> None:
    futures = fexec.map(noop, range(200))
    assert fexec.get_result(futures) == list(range(200))
    failed = fexec.call_async(int, "x")
    assert failed.result(throw_except=False) is None
    assert fexec.monitor._futures == {}


def test_a_cancelled_call_leaves_no_record_and_its_late_status_is_ignored(fexec: FunctionExecutor,
                                                                          events: Events) -> None:
    (key,) = hold(events, "m")
    running = fexec.call_async(held, key)
    assert (running.job_id, running.call_id) in fexec.monitor._futures
    assert running.cancel()
    assert fexec.monitor._futures == {}
    events[key].set()  # the call ends after all: its status finds no future to change
    later = fexec.call_async(noop, 7)
    assert later.result(timeout=20) == 7
    assert running.cancelled
    assert fexec.monitor._futures == {}
