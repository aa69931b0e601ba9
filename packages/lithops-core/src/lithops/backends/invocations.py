"""The client side of asynchronous function invocations (Lambda's ``Event`` invocations, Function Compute's async
tasks): the event body of one group of calls, the backoff between retries, and sending every event of a job from a
thread pool, stopping at the first invocation that fails for good.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from lithops.backends.compute import ComputeBackend
from lithops.backends.payloads import put_payload
from lithops.errors import BackendError
from lithops.job.job import JobRequest

T = TypeVar("T")


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): full jitter over an exponential ceiling."""
    return random.uniform(0, min(cap, base * (2 ** attempt)))


def event_body(backend: ComputeBackend, job: JobRequest, payload: Any, limit: int, key: str) -> bytes:
    """The JSON event of one invocation: ``payload`` itself when it fits in ``limit`` bytes, else a reference
    ``{"lithops_payload": ...}`` to a copy written to the job's storage under ``key`` (see
    :func:`lithops.backends.payloads.put_payload`; the worker reads it back).
    """
    body = json.dumps(payload).encode()
    if len(body) <= limit:
        return body
    return json.dumps({"lithops_payload": put_payload(backend, job, key, payload)}).encode()


def invoke_all(pool: ThreadPoolExecutor, invoke_one: Callable[[T, threading.Event], None], items: Sequence[T]) -> None:
    """Run ``invoke_one(item, stop)`` for every item in ``pool``; return when all have returned.

    When one raises, ``stop`` is set (``invoke_one`` should then give up before sending anything more), the others
    are waited for, and the first error is raised again: a :class:`BackendError` (of the same type) with a note of
    how many invocations had been accepted and may still run, any other exception as it is.
    """
    stop = threading.Event()
    futures: list[Future[None]] = [pool.submit(invoke_one, item, stop) for item in items]
    wait(futures, return_when=FIRST_EXCEPTION)
    failed = [f for f in futures if f.done() and f.exception() is not None]
    if not failed:
        return
    stop.set()
    wait(futures)
    accepted = sum(1 for f in futures if f.exception() is None)
    exc = failed[0].exception()
    assert exc is not None
    if not isinstance(exc, BackendError):
        raise exc
    note = f" {accepted} of {len(items)} invocations were accepted before that and may still run." if accepted else ""
    raise type(exc)(f"{exc}{note}") from exc
