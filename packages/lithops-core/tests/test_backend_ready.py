"""lithops.backends.ready.ReadyCache: made once per key across threads, made again after forget or a failure."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lithops.backends.ready import ReadyCache


def test_threads_asking_at_once_make_a_value_once() -> None:
    cache: ReadyCache[tuple[str, int], str] = ReadyCache()
    made: list[int] = []
    lock = threading.Lock()

    def make() -> str:
        with lock:
            made.append(1)
        time.sleep(0.05)
        return "fn-256"

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda _: cache.get(("rt", 256), make), range(8)))
    assert values == ["fn-256"] * 8
    assert len(made) == 1


def test_forget_and_a_failed_make_leave_nothing_cached() -> None:
    cache: ReadyCache[str, int] = ReadyCache()
    assert cache.get("a", lambda: 1) == 1
    assert cache.get("a", lambda: 2) == 1
    cache.forget("a")
    cache.forget("never-made")
    assert cache.get("a", lambda: 3) == 3

    def fail() -> int:
        raise RuntimeError("deploy refused")

    with pytest.raises(RuntimeError):
        cache.get("b", fail)
    assert cache.get("b", lambda: 4) == 4
