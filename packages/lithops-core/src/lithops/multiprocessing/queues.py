"""``Queue``, ``SimpleQueue`` and ``JoinableQueue``: store lists of pickled objects.

``get`` blocks in the store (a blocking pop), ``put`` on a full bounded queue registers as a waiter that the
next ``get`` wakes. Unlike the standard library, ``put`` sends the object before it returns (there is no feeder
thread), so ``qsize``/``empty`` right after a ``put`` already count it.
"""

from __future__ import annotations

import queue
import time
from typing import Any, ClassVar

from lithops.multiprocessing.shared import SharedObject, await_wake, new_waiter_id, register_waiter, withdraw


class Queue(SharedObject):
    """A FIFO queue shared by every process: ``put``/``get`` with ``block`` and ``timeout``, ``qsize`` ..."""

    _LOCAL_STATE: ClassVar[dict[str, Any]] = {"_closed": False}
    _SUFFIXES: ClassVar[tuple[str, ...]] = (":items", ":notfull")
    #: What ``get`` raises when nothing arrives in time (``except q.Empty`` as Lithops's examples write it).
    Empty = queue.Empty
    #: What ``put`` raises on a full bounded queue.
    Full = queue.Full

    def __init__(self, maxsize: int = 0, *, ctx: Any = None) -> None:
        self._maxsize = maxsize if maxsize > 0 else 0
        self._attach(type(self).__name__.lower(), self._SUFFIXES)

    @property
    def _items(self) -> str:
        return self._key + ":items"

    @property
    def _notfull(self) -> str:
        return self._key + ":notfull"

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """Add ``obj``; on a full queue wait up to ``timeout`` seconds (None: for ever), then raise queue.Full."""
        self._check_open()
        data = self._store.dumps(obj)
        self._before_put()
        try:
            self._push(data, block, timeout)
        except BaseException:
            self._put_failed()
            raise

    def _push(self, data: bytes, block: bool, timeout: float | None) -> None:
        store = self._store
        if not self._maxsize:
            store.rpush(self._items, data)
            return
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            wid = new_waiter_id() if block else ""
            if store.push_bounded(self._items, data, self._maxsize, self._notfull, wid):
                return
            if not block:
                raise queue.Full
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                withdraw(store, self._notfull, wid)
                raise queue.Full
            if await_wake(store, self._notfull, wid, remaining) is None:
                raise queue.Full

    def _before_put(self) -> None:
        pass

    def _put_failed(self) -> None:
        pass

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the first item; wait up to ``timeout`` seconds (None: for ever), then raise
        queue.Empty.
        """
        self._check_open()
        data = self._store.pop_wait(self._items, timeout if block else 0)
        if data is None:
            raise queue.Empty
        if self._maxsize:
            self._store.wake(self._notfull, 1, b"1")
        return self._store.loads(data)

    def put_nowait(self, obj: Any) -> None:
        """``put(obj, False)``."""
        self.put(obj, False)

    def get_nowait(self) -> Any:
        """``get(False)``."""
        return self.get(False)

    def qsize(self) -> int:
        """Number of items in the queue."""
        return self._store.llen(self._items)

    def empty(self) -> bool:
        """Whether the queue is empty."""
        return self.qsize() == 0

    def full(self) -> bool:
        """Whether a bounded queue is full."""
        return bool(self._maxsize) and self.qsize() >= self._maxsize

    def close(self) -> None:
        """No more ``put``/``get`` through this handle (the queue itself stays for other processes)."""
        self._closed = True

    def join_thread(self) -> None:
        """Accepted for compatibility: ``put`` has already delivered every item."""
        if not self._closed:
            raise ValueError(f"Queue {self!r} not closed")

    def cancel_join_thread(self) -> None:
        """Accepted for compatibility (there is no feeder thread)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._key}>"


class SimpleQueue(Queue):
    """An unbounded queue with only ``put``, ``get``, ``empty`` and ``close``."""

    def __init__(self, *, ctx: Any = None) -> None:
        super().__init__(0)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the first item, waiting for one (as Lithops's, ``block`` and ``timeout`` are
        accepted too: queue.Empty when nothing arrives in time).
        """
        return super().get(block, timeout)

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """Add ``obj`` (the queue is unbounded: ``block`` and ``timeout``, accepted as Lithops does, never wait)."""
        super().put(obj)


class JoinableQueue(Queue):
    """A Queue that also counts unfinished items: ``task_done`` and ``join`` as in ``queue.Queue``."""

    _SUFFIXES: ClassVar[tuple[str, ...]] = (":items", ":notfull", ":unfinished", ":joiners")

    @property
    def _unfinished(self) -> str:
        return self._key + ":unfinished"

    @property
    def _joiners(self) -> str:
        return self._key + ":joiners"

    def _before_put(self) -> None:
        self._store.incr(self._unfinished, 1)

    def _put_failed(self) -> None:
        if self._store.incr(self._unfinished, -1) <= 0:
            self._store.wake(self._joiners, -1, b"1")

    def task_done(self) -> None:
        """Mark one item taken with ``get`` as processed; ``join`` returns once every item is."""
        remaining = self._store.incr(self._unfinished, -1)
        if remaining < 0:
            self._store.incr(self._unfinished, 1)
            raise ValueError("task_done() called too many times")
        if remaining == 0:
            self._store.wake(self._joiners, -1, b"1")

    def join(self) -> None:
        """Block until every item put has been marked with ``task_done``."""
        wid = register_waiter(self._store, self._joiners)
        value = self._store.get(self._unfinished)
        if not value or int(value) <= 0:
            withdraw(self._store, self._joiners, wid)
            return
        await_wake(self._store, self._joiners, wid, None)
