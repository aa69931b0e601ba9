"""lithops.backends.invocations: event bodies, retry backoff and the fan-out of a job's asynchronous invocations."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
from fake_backends import FakeCompute

from lithops.backends.invocations import backoff_delay, event_body, invoke_all
from lithops.errors import BackendError
from lithops.job.job import JobRequest


def test_backoff_is_jittered_below_an_exponential_ceiling() -> None:
    delays = [backoff_delay(a, 0.1, 2.0) for a in range(12) for _ in range(20)]
    assert all(0 <= d <= 2.0 for d in delays)
    assert max(backoff_delay(0, 0.1, 2.0) for _ in range(50)) <= 0.1
    assert len(set(delays)) > 100


def test_a_payload_within_the_limit_is_the_body_and_a_larger_one_goes_through_the_jobs_storage() -> None:
    backend = FakeCompute({}, {})
    job = cast(JobRequest, None)  # only a payload over the limit needs the job
    assert json.loads(event_body(backend, job, {"a": "x" * 50}, 100, "k")) == {"a": "x" * 50}
    with pytest.raises(BackendError, match="without the executor's storage"):
        event_body(backend, job, {"a": "x" * 200}, 100, "k")


def test_every_item_is_invoked_once() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def one(item: int, stop: threading.Event) -> None:
        with lock:
            seen.append(item)

    with ThreadPoolExecutor(4) as pool:
        invoke_all(pool, one, list(range(20)))
    assert sorted(seen) == list(range(20))


def test_the_first_failure_stops_the_rest_and_says_how_many_were_accepted() -> None:
    def one(item: int, stop: threading.Event) -> None:
        if item == 0:
            raise BackendError("item 0 refused")
        if item > 2:  # the ones after the failure wait for stop, as a retry loop would
            assert stop.wait(10)
            return
        time.sleep(0.01)

    with ThreadPoolExecutor(8) as pool, pytest.raises(BackendError, match=r"item 0 refused \d+ of 6 invocations"):
        invoke_all(pool, one, list(range(6)))


def test_an_error_that_is_not_a_backend_error_is_raised_as_it_is() -> None:
    def one(item: Any, stop: threading.Event) -> None:
        raise KeyError(item)

    with ThreadPoolExecutor(2) as pool, pytest.raises(KeyError):
        invoke_all(pool, one, ["x"])
