"""``wait`` and ``get_result`` over futures of one or several executors."""

from __future__ import annotations

import math
import sys
import time
import types
from collections.abc import Iterable
from typing import Any

from lithops import progress
from lithops.errors import WaitTimeoutError
from lithops.futures import CHANGED, FuturesList, ResponseFuture

ALWAYS = 0
ANY_COMPLETED = -1
ALL_COMPLETED = 100

THREADPOOL_SIZE = 64
WAIT_DUR_SEC = 1


def as_future_list(fs: ResponseFuture | Iterable[ResponseFuture] | None) -> list[ResponseFuture]:
    """``fs`` (a future, futures or None) as a list of futures."""
    if fs is None:
        return []
    if isinstance(fs, ResponseFuture):
        return [fs]
    return list(fs)


def _expand(fs: list[ResponseFuture]) -> list[ResponseFuture]:
    """Replace futures whose call returned futures by those futures (in place of their parent)."""
    if not any(f._new_futures for f in fs):
        return fs
    out: list[ResponseFuture] = []
    for f in fs:
        out.append(f)
        if f._new_futures:
            out.extend(_expand(f._new_futures))
    return out


def _needed(return_when: Any, total: int) -> int:
    if return_when == ANY_COMPLETED:
        return min(1, total)
    if return_when == ALWAYS:
        return 0
    pct = float(return_when)
    if not 0 <= pct <= 100:
        raise ValueError(
            f"return_when must be ALWAYS, ANY_COMPLETED, ALL_COMPLETED or a percentage 0-100, got {return_when!r}."
        )
    return math.ceil(pct * total / 100)


def wait(
    fs: ResponseFuture | Iterable[ResponseFuture] | None,
    internal_storage: Any = None,
    job_monitor: Any = None,
    throw_except: bool = True,
    return_when: Any = ALL_COMPLETED,
    download_results: bool = False,
    timeout: float | None = None,
    threadpool_size: int = THREADPOOL_SIZE,
    wait_dur_sec: float | None = None,
    show_progressbar: bool = True,
    futures_from_executor_wait: bool = False,
) -> tuple[FuturesList, FuturesList]:
    """Wait until ``return_when`` of the futures have finished; return ``(done, not_done)``.

    The parameters are those of Lithops 3.x, in its order.

    Args:
        fs: a future or futures, possibly from several executors, or copied (pickled) from another process.
        internal_storage: accepted for compatibility.
        job_monitor: accepted for compatibility.
        throw_except: re-raise the exception of the first failed call found.
        return_when: ``ALL_COMPLETED``, ``ANY_COMPLETED``, ``ALWAYS`` (check once) or a percentage.
        download_results: also read (deserialize) the results of the finished calls.
        timeout: seconds to wait at most; then :class:`lithops.errors.WaitTimeoutError` is raised and the
            calls keep running (their futures stay usable).
        threadpool_size: accepted for compatibility (statuses are pushed to futures: nothing to tune).
        wait_dur_sec: seconds between storage reads for futures copied from another process (default 1);
            other futures are told of their status as it arrives.
        show_progressbar: draw a progress bar on stderr while waiting, if it is a terminal
            (:mod:`lithops.progress`).
        futures_from_executor_wait: the progress bar counts only the calls unfinished when the wait started.
    """
    futures = as_future_list(fs)
    if not futures:
        return FuturesList(), FuturesList()
    detached = [f for f in futures if f._monitor is None and not f.finished]
    if detached:  # copies of futures from another process: their statuses are read from storage
        from lithops.monitor import adopt

        adopt(detached, WAIT_DUR_SEC if wait_dur_sec is None else float(wait_dur_sec))
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    pending = list(futures)
    total, finished, failed = len(futures), 0, 0
    with progress.progress_bar(total, show_progressbar and return_when != ALWAYS) as bar:
        capacity = progress.capacity(futures) if bar is not None else None
        longest = 1.0 if bar is None else progress.REFRESH_SEC
        skipped = sum(1 for f in futures if f.finished) if futures_from_executor_wait else 0
        while True:
            with CHANGED:
                still: list[ResponseFuture] = []
                for f in pending:
                    if not f.finished:
                        still.append(f)
                        continue
                    finished += 1
                    if f._new_futures:
                        total += len(f._new_futures)
                        pending.extend(f._new_futures)  # checked in this same pass (they are usually done)
                    if f.error:
                        failed += 1
                        if throw_except:
                            raise f.exception()  # type: ignore[misc]
                pending = still
                if finished >= _needed(return_when, total):
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise WaitTimeoutError(
                        f"timeout of {timeout:g} s exceeded waiting for calls to finish ({finished} of {total} "
                        f"done). The calls keep running: wait again, or raise timeout."
                    )
                CHANGED.wait(timeout=longest if remaining is None else min(longest, remaining))
            if bar is not None and bar.due():
                bar.draw(finished - skipped, progress.running(pending, capacity), failed, total - skipped)
            if len(pending) > 1000:
                # Let statuses accumulate rather than rescanning per status; a rescan costs time in proportion to
                # len(pending) (holding CHANGED), so pause in proportion too, keeping rescans a small share of the
                # time.
                pause = min(0.1, max(0.005, len(pending) * 2e-6))
                time.sleep(pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic())))
        if bar is not None:
            bar.draw(finished - skipped, progress.running(pending, capacity), failed, total - skipped, final=True)
    futures = _expand(futures)
    done = [f for f in futures if f.finished]
    if download_results:
        for f in done:
            if not f.error:
                f.result(throw_except=False)
    return FuturesList(done), FuturesList(f for f in futures if not f.finished)


def get_result(
    fs: ResponseFuture | Iterable[ResponseFuture] | None = None,
    internal_storage: Any = None,
    throw_except: bool = True,
    timeout: float | None = None,
    threadpool_size: int = THREADPOOL_SIZE,
    wait_dur_sec: float | None = None,
    show_progressbar: bool = True,
) -> list[Any]:
    """Wait for the futures and return the list of their results, in call order.

    Futures whose call returned futures are replaced by the results of those; futures consumed by a later
    stage (``map_reduce``, chaining, futures passed as the input of another job) are skipped.
    The parameters are those of Lithops 3.x, in its order (see :func:`wait`).
    """
    futures = as_future_list(fs)
    done, _ = wait(futures, throw_except=throw_except, timeout=timeout, download_results=True,
                   wait_dur_sec=wait_dur_sec, show_progressbar=show_progressbar)
    return [f.result(throw_except=throw_except) for f in done if not f.futures and f._produce_output]


class _CallableModule(types.ModuleType):
    """Lets ``lithops.wait`` be both this module (``lithops.wait.ALL_COMPLETED``) and the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[FuturesList, FuturesList]:
        return wait(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
