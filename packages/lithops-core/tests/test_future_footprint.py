"""What a finished future costs the client: the memory it keeps, and its ``stats``, which stay those of Lithops
(docs/protocol.md#stats-and-timestamps) whether they are read early, late, or from a pickled copy.
"""

from __future__ import annotations

import gc
import pickle
import tracemalloc
from typing import Any

from held_calls import Events, held, hold

from lithops.executors import FunctionExecutor
from lithops.job.status import CallStatus

#: Bytes a finished future may keep, its result aside: its state, its stats and the executor's records of it.
#: Here a no-op call's future keeps about 960 bytes; with its stats as a dict it kept about 1,950.
BYTES_PER_FUTURE = 1200
CALLS = 2000

#: Keys of a future's stats, in order: the client's when it submits the call (the worker's keys follow, those
#: already there keeping their place), the client's when the status arrives, and when the result is read.
SUBMIT_KEYS = ["host_job_create_tstamp", "host_job_serialize_time", "func_module_size_bytes", "host_submit_tstamp",
               "host_func_upload_time", "host_data_upload_time", "host_job_created_time", "func_data_size_bytes"]
ARRIVAL_KEYS = ["host_status_query_count", "host_result_query_count", "host_status_done_tstamp"]


def noop(x: Any) -> Any:
    return x


def record_statuses(fexec: FunctionExecutor) -> list[CallStatus]:
    """The statuses the in-process backend hands to the client, from now on."""
    statuses: list[CallStatus] = []
    deliver = fexec.compute.deliver  # type: ignore[attr-defined]

    def recording(job: Any, status: CallStatus, report: Any) -> None:
        statuses.append(status)
        deliver(job, status, report)

    fexec.compute.deliver = recording  # type: ignore[attr-defined]
    return statuses


def test_a_finished_future_keeps_little_memory(fexec: FunctionExecutor) -> None:
    fexec.map(noop, range(20))
    fexec.get_result()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        futures = fexec.map(noop, range(CALLS))
        assert fexec.get_result(futures) == list(range(CALLS))
        gc.collect()
        kept = (tracemalloc.get_traced_memory()[0] - before) / CALLS
    finally:
        tracemalloc.stop()
    assert kept < BYTES_PER_FUTURE, f"a finished future keeps {kept:.0f} bytes"
    assert all(f.stats["worker_result_size"] > 0 for f in futures)  # still there when read


def test_stats_hold_the_clients_keys_then_the_workers(fexec: FunctionExecutor) -> None:
    statuses = record_statuses(fexec)
    future = fexec.call_async(noop, 7)
    assert future.result() == 7
    (status,) = statuses
    stats = future.stats
    worker = [k for k in status.stats if k not in SUBMIT_KEYS and k != "activation_id"]
    assert list(stats) == [*SUBMIT_KEYS, *worker, *ARRIVAL_KEYS, "host_result_done_tstamp"]
    assert {k: stats[k] for k in status.stats if k != "activation_id"} == {
        k: v for k, v in status.stats.items() if k != "activation_id"}
    assert future.activation_id == status.stats["activation_id"] and "activation_id" not in stats
    assert (stats["host_status_query_count"], stats["host_result_query_count"]) == (0, 0)
    assert stats["worker_end_tstamp"] <= stats["host_status_done_tstamp"] <= stats["host_result_done_tstamp"]
    assert future.stats is stats and future.status() is stats


def test_stats_read_before_the_call_ends_are_the_same_dict_filled_in(fexec: FunctionExecutor,
                                                                     events: Events) -> None:
    (key,) = hold(events, "k")
    future = fexec.call_async(held, key)
    early = future.stats
    assert "host_job_create_tstamp" in early and "worker_start_tstamp" not in early
    early["mine"] = 1  # a caller's own key stays
    events[key].set()
    assert future.result(timeout=20) == key
    assert future.stats is early
    assert {"mine", "worker_start_tstamp", "host_status_done_tstamp", "host_result_done_tstamp"} <= set(early)


def test_a_failed_or_cancelled_call_has_its_stats(fexec: FunctionExecutor, events: Events) -> None:
    failed = fexec.call_async(int, "x")
    assert failed.result(throw_except=False) is None
    assert {"worker_exec_time", "host_status_done_tstamp", "host_status_query_count"} <= set(failed.stats)
    (key,) = hold(events, "c")
    cancelled = fexec.call_async(held, key)
    assert cancelled.cancel()
    events[key].set()
    assert list(cancelled.stats)[-1] == "host_status_done_tstamp"
    assert "worker_start_tstamp" not in cancelled.stats and "host_status_query_count" not in cancelled.stats


def test_a_pickled_future_carries_its_stats(fexec: FunctionExecutor) -> None:
    unread, read = fexec.map(noop, [1, 2])
    fexec.wait([unread, read])
    read.stats  # noqa: B018 - one copied after its stats were read, one before
    for future in (unread, read):
        copy = pickle.loads(pickle.dumps(future))
        assert copy.stats == future.stats and list(copy.stats) == list(future.stats)
    assert read.result() == 2 and "host_result_done_tstamp" in read.stats
