"""RetryingFunctionExecutor: failed calls are resubmitted until they succeed or run out of retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lithops
from lithops.wait import ANY_COMPLETED


class FlakyError(Exception):
    """Raised by ``flaky`` while it still has failures to go."""


def flaky(counter: str, fails: int, value: Any = None) -> Any:
    """Fail the first ``fails`` times it is called with this counter file, then return ``value``."""
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt <= fails:
        raise FlakyError(f"attempt {attempt} of {counter} fails")
    return value if value is not None else attempt


def attempts(counter: str) -> int:
    return int(Path(counter).read_text())


@pytest.fixture
def rexec(fexec: Any) -> Any:
    return lithops.RetryingFunctionExecutor(fexec)


def test_succeeds_when_retries_cover_the_failures(rexec: Any, tmp_path: Path) -> None:
    counters = [str(tmp_path / f"c{i}") for i in range(3)]
    futures = rexec.map(flaky, [(c, i) for i, c in enumerate(counters)], retries=2)
    done, pending = rexec.wait(futures)
    assert isinstance(done, list) and isinstance(pending, list)
    assert done == futures and not pending
    assert all(rf.done and not rf.error for rf in done)
    # call i failed i times, so it succeeded on attempt i + 1
    assert [f.result() for f in futures] == [1, 2, 3]
    assert [attempts(c) for c in counters] == [1, 2, 3]


def test_fails_when_retries_are_too_few(rexec: Any, tmp_path: Path) -> None:
    counter = str(tmp_path / "c")
    futures = rexec.map(flaky, [(counter, 3)], retries=2)
    with pytest.raises(FlakyError, match="attempt 3 of"):
        rexec.wait(futures)
    assert attempts(counter) == 3


def test_exhausted_retries_without_throw_except(rexec: Any, tmp_path: Path) -> None:
    bad, good = str(tmp_path / "bad"), str(tmp_path / "good")
    futures = rexec.map(flaky, [(bad, 5), (good, 1)], retries=1)
    done, pending = rexec.wait(futures, throw_except=False)
    assert done == futures and not pending
    assert futures[1].result() == 2
    for throw_except in (True, False):  # as in Lithops, a failed attempt's error is raised either way
        with pytest.raises(FlakyError, match="attempt 2 of"):
            futures[0].result(throw_except=throw_except)
    assert attempts(bad) == 2


def test_no_retries_by_default(rexec: Any, tmp_path: Path) -> None:
    counter = str(tmp_path / "c")
    futures = rexec.map(flaky, [(counter, 1)])
    with pytest.raises(FlakyError):
        rexec.wait(futures)
    assert attempts(counter) == 1


def test_retry_keeps_extra_args(rexec: Any, tmp_path: Path) -> None:
    counter = str(tmp_path / "c")
    futures = rexec.map(flaky, [counter], extra_args=(1, "value"), retries=1)
    rexec.wait(futures)
    assert futures[0].result() == "value"
    assert attempts(counter) == 2


def test_wait_any_completed(rexec: Any, tmp_path: Path) -> None:
    counters = [str(tmp_path / f"c{i}") for i in range(2)]
    futures = rexec.map(flaky, [(counters[0], 0), (counters[1], 2)], retries=2)
    done, pending = rexec.wait(futures, return_when=ANY_COMPLETED)
    assert done and sorted(map(id, done + pending)) == sorted(map(id, futures))
    assert not {id(f) for f in done} & {id(f) for f in pending}
    done, pending = rexec.wait(futures)
    assert done == futures and not pending
    assert [f.result() for f in futures] == [1, 3]


def test_context_manager(fexec: Any, tmp_path: Path) -> None:
    counter = str(tmp_path / "c")
    with lithops.RetryingFunctionExecutor(lithops.FunctionExecutor(log_level=None)) as rexec:
        futures = rexec.map(flaky, [(counter, 1, "ok")], retries=1)
        rexec.wait(futures)
        assert futures[0].result() == "ok"


def test_retries_from_config(warm_pool: None, tmp_path: Path) -> None:
    counter = str(tmp_path / "c")
    with lithops.FunctionExecutor(config={"lithops": {"retries": 2}}, log_level=None) as fexec:
        rexec = lithops.RetryingFunctionExecutor(fexec)
        futures = rexec.map(flaky, [(counter, 2)])
        done, pending = rexec.wait(futures)
        assert done == futures and not pending
        assert futures[0].result() == 3


def test_cancel_stops_further_attempts(rexec: Any, tmp_path: Path) -> None:
    counter = str(tmp_path / "c")
    futures = rexec.map(flaky, [(counter, 3)], retries=5)
    futures[0].cancel()
    done, _ = rexec.wait(futures, throw_except=False)
    assert done == futures and futures[0].error
    assert attempts(counter) == 1
