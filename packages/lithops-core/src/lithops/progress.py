"""The progress bar ``wait``/``get_result`` draw on a terminal: done, running, failed, rate and ETA on one line.

It is drawn on stderr, only when stderr is a terminal, ``show_progressbar`` is true and the process is not a
Lithops worker; at most :data:`REFRESH_SEC` apart, and only once a wait has lasted :data:`DELAY_SEC` (quick
waits print nothing). Only one wait of a process draws at a time.

Between frames the cursor waits at the start of the bar's line. Workers that echo what calls print to the same
terminal erase the line first (``lithops.worker.calls``), so the output takes the bar's place and the next frame
is drawn below it: output scrolls above the bar, and no old frame is left behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from lithops.worker.context import running_call

if TYPE_CHECKING:
    from lithops.futures import ResponseFuture

#: Seconds between two redraws.
REFRESH_SEC = 0.2
#: A wait shorter than this draws nothing.
DELAY_SEC = 0.5
#: Characters of the bar itself.
BAR_WIDTH = 25

_active = threading.Lock()


def _fmt_duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _bar_chars(stream: TextIO) -> tuple[str, str]:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return ("█", "░") if encoding in ("utf8", "utf_8") else ("#", "-")


class ProgressBar:
    """One line on a terminal, redrawn in place.

    Args:
        total: number of calls waited for (may grow when calls return futures).
        stream: where to draw (a terminal).
    """

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.start = time.monotonic()
        self.next_draw = self.start + DELAY_SEC
        self.drawn = False
        self.ended = False
        self.full, self.empty = _bar_chars(stream)
        self._last_done = 0
        self._rate_since = self.start

    def due(self) -> bool:
        """Whether a redraw is due (cheap: callers count only then)."""
        return time.monotonic() >= self.next_draw

    def line(self, done: int, running: int, failed: int, total: int, width: int) -> str:
        """The text of the bar for these counts, at most ``width`` characters."""
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = done / elapsed
        if done >= total:
            tail = f"in {_fmt_duration(elapsed)}"
        elif done:
            tail = f"ETA {_fmt_duration((total - done) / rate)}"
        else:
            tail = "ETA --:--"
        counts = f" {done}/{total} done  {running} running"
        if failed:
            counts += f"  {failed} failed"
        counts += f"  {rate:.1f}/s  {tail}"
        room = width - len(counts) - 2
        if room < 10:
            return counts.strip()[:width]
        bar_len = min(BAR_WIDTH, room)  # the same width at each redraw unless the terminal is narrow
        filled = int(bar_len * done / total) if total else bar_len
        return f"[{self.full * filled}{self.empty * (bar_len - filled)}]{counts}"

    def draw(self, done: int, running: int, failed: int, total: int, final: bool = False) -> None:
        """Redraw with these counts; ``final`` also ends the line."""
        now = time.monotonic()
        if not final:
            self.next_draw = now + REFRESH_SEC
        elif not self.drawn and now - self.start < DELAY_SEC:
            return  # a quick wait leaves no trace
        width = max(20, self._columns() - 1)
        # between frames the cursor waits at the start of the bar's line, where output of the calls (echoed by
        # the workers after an erase-line) replaces the bar; the next frame is drawn under that output
        text = "\r\x1b[K" + self.line(done, running, failed, total, width) + ("\n" if final else "\r")
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away
            return
        self.drawn = True
        self.ended = final

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        return columns or shutil.get_terminal_size((80, 24)).columns  # a terminal that reports no size: 80

    def close(self) -> None:
        """End the line if something was drawn and not ended (an interrupted wait)."""
        if self.drawn and not self.ended:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


def running(pending: Iterable[ResponseFuture], capacity: int | None) -> int:
    """How many of the pending calls are probably running: those handed to the backend, at most ``capacity``
    (what the backends run at once; None: unknown). Stops counting at ``capacity``, so it stays cheap.
    """
    count = 0
    for f in pending:
        if f.invoked:
            count += 1
            if capacity is not None and count >= capacity:
                break
    return count


def capacity(futures: Iterable[ResponseFuture]) -> int | None:
    """How many calls the executors of these futures run at once, summed (None: unknown)."""
    monitors = {id(f.monitor): f.monitor for f in futures if f.monitor is not None}
    sizes = [getattr(m, "max_workers", None) for m in monitors.values()]
    if not sizes or not all(isinstance(n, int) and n > 0 for n in sizes):
        return None
    return sum(sizes)  # type: ignore[arg-type]


def _start(total: int, show: bool) -> ProgressBar | None:
    if not show or total <= 0:
        return None
    stream = sys.stderr
    try:
        if stream is None or not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    if running_call():
        return None
    if not _active.acquire(blocking=False):  # another wait of this process is drawing
        return None
    return ProgressBar(total, stream)


@contextmanager
def progress_bar(total: int, show: bool) -> Iterator[ProgressBar | None]:
    """A progress bar for a wait on ``total`` calls, or None when none should be drawn (see module docs)."""
    bar = _start(total, show)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()
            _active.release()
