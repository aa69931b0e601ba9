"""An in-memory :class:`~lithops.multiprocessing.store.Store`: the data of the local store server.

Thread-safe; blocking pops sleep on one condition variable that every push notifies.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from lithops.multiprocessing.store import Store

#: Longest sleep of a blocking pop before it checks ``abort`` (the local server: did the client go away?).
ABORT_CHECK_SEC = 0.5


class MemoryStore(Store):
    """Strings (``bytearray``), lists (``deque``) and ordered maps (``dict``) in this process."""

    kind = "memory"

    def __init__(self, descriptor: dict[str, Any] | None = None) -> None:
        super().__init__(descriptor or {"kind": "memory"})
        import threading

        self._data: dict[str, Any] = {}
        self._cond = threading.Condition()

    # -- typed access (call with the condition held) --------------------------------------------------------
    def _typed(self, key: str, kind: type, create: bool = False) -> Any:
        value = self._data.get(key)
        if value is None:
            if not create:
                return None
            value = self._data[key] = kind()
        elif not isinstance(value, kind):
            raise TypeError(f"store key {key!r} holds a {type(value).__name__}, not a {kind.__name__}")
        return value

    def _drop_if_empty(self, key: str) -> None:
        if not self._data.get(key):
            self._data.pop(key, None)

    # -- strings -------------------------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The string at ``key``, or None."""
        with self._cond:
            value = self._typed(key, bytearray)
            return None if value is None else bytes(value)

    def set(self, key: str, value: bytes) -> None:
        """Store a string at ``key``."""
        with self._cond:
            self._data[key] = bytearray(value)

    def delete(self, *keys: str) -> int:
        """Delete keys of any type; return how many existed."""
        with self._cond:
            return sum(self._data.pop(k, None) is not None for k in keys)

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds anything."""
        with self._cond:
            return key in self._data

    def incr(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` to the integer at ``key`` and return the new value."""
        with self._cond:
            current = self._typed(key, bytearray)
            value = (int(current) if current else 0) + amount
            self._data[key] = bytearray(str(value).encode())
            return value

    def getrange(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of the string at ``key``."""
        with self._cond:
            value = self._typed(key, bytearray)
            return b"" if value is None else bytes(value[start:end + 1])

    def setrange(self, key: str, offset: int, value: bytes) -> None:
        """Overwrite the string at ``key`` from ``offset`` (padding with zero bytes)."""
        with self._cond:
            current = self._typed(key, bytearray, create=True)
            if len(current) < offset + len(value):
                current.extend(bytes(offset + len(value) - len(current)))
            current[offset:offset + len(value)] = value

    # -- lists -----------------------------------------------------------------------------------------------
    def rpush(self, key: str, *values: bytes) -> int:
        """Append to the list at ``key``; return its new length."""
        with self._cond:
            lst = self._typed(key, deque, create=True)
            lst.extend(values)
            self._cond.notify_all()
            return len(lst)

    def lpush(self, key: str, *values: bytes) -> int:
        """Prepend to the list at ``key``; return its new length."""
        with self._cond:
            lst = self._typed(key, deque, create=True)
            lst.extendleft(values)
            self._cond.notify_all()
            return len(lst)

    def _pop(self, key: str, left: bool) -> bytes | None:
        lst = self._typed(key, deque)
        if not lst:
            return None
        value: bytes = lst.popleft() if left else lst.pop()
        self._drop_if_empty(key)
        return value

    def lpop(self, key: str) -> bytes | None:
        """Remove and return the first element, or None."""
        with self._cond:
            return self._pop(key, True)

    def rpop(self, key: str) -> bytes | None:
        """Remove and return the last element, or None."""
        with self._cond:
            return self._pop(key, False)

    def blpop(self, key: str, timeout: float | None, abort: Callable[[], bool] | None = None) -> bytes | None:
        """Remove and return the first element, waiting up to ``timeout`` seconds (None: for ever).

        ``abort`` is checked between sleeps of at most :data:`ABORT_CHECK_SEC`; when it returns True the wait
        ends with None.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                value = self._pop(key, True)
                if value is not None:
                    return value
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if abort is not None:
                    if abort():
                        return None
                    remaining = ABORT_CHECK_SEC if remaining is None else min(remaining, ABORT_CHECK_SEC)
                self._cond.wait(remaining)

    def llen(self, key: str) -> int:
        """Length of the list at ``key``."""
        with self._cond:
            lst = self._typed(key, deque)
            return len(lst) if lst else 0

    def lrange(self, key: str, start: int, stop: int) -> list[bytes]:
        """Elements ``start`` to ``stop`` inclusive (negative counts from the end)."""
        with self._cond:
            lst = list(self._typed(key, deque) or ())
            n = len(lst)
            start = max(start + n, 0) if start < 0 else start
            stop = stop + n if stop < 0 else stop
            return lst[start:stop + 1]

    def lindex(self, key: str, index: int) -> bytes | None:
        """The element at ``index``, or None if out of range."""
        with self._cond:
            lst = self._typed(key, deque) or deque()
            if -len(lst) <= index < len(lst):
                value: bytes = lst[index]
                return value
            return None

    def lset(self, key: str, index: int, value: bytes) -> bool:
        """Replace the element at ``index``; False if out of range."""
        with self._cond:
            lst = self._typed(key, deque) or deque()
            if -len(lst) <= index < len(lst):
                lst[index] = value
                return True
            return False

    def list_replace(self, key: str, expected: list[bytes] | None, values: list[bytes]) -> bool:
        """Replace the whole list if it still equals ``expected`` (None: unconditionally)."""
        with self._cond:
            current = self._typed(key, deque)
            if expected is not None and list(current or ()) != list(expected):
                return False
            if values:
                self._data[key] = deque(values)
                self._cond.notify_all()
            else:
                self._data.pop(key, None)
            return True

    def push_bounded(self, key: str, value: bytes, limit: int, waiters: str, wid: str) -> bool:
        """Append if the list holds fewer than ``limit`` elements; else register ``wid`` in ``waiters``."""
        with self._cond:
            lst = self._typed(key, deque, create=True)
            if len(lst) < limit:
                lst.append(value)
                self._cond.notify_all()
                return True
            self._drop_if_empty(key)
            if wid:
                self._typed(waiters, deque, create=True).append(wid.encode())
            return False

    # -- ordered maps ------------------------------------------------------------------------------------------
    def map_set(self, key: str, items: list[tuple[bytes, bytes]]) -> None:
        """Set fields (new ones last, replaced ones in place)."""
        with self._cond:
            if items:
                self._typed(key, dict, create=True).update(items)

    def map_get(self, key: str, field: bytes) -> bytes | None:
        """The value of ``field``, or None."""
        with self._cond:
            m = self._typed(key, dict)
            return None if m is None else m.get(field)

    def map_setdefault(self, key: str, field: bytes, value: bytes) -> bytes:
        """Set ``field`` unless present; return its value."""
        with self._cond:
            result: bytes = self._typed(key, dict, create=True).setdefault(field, value)
            return result

    def map_pop(self, key: str, field: bytes) -> bytes | None:
        """Remove ``field`` and return its value, or None."""
        with self._cond:
            m = self._typed(key, dict)
            if m is None:
                return None
            value: bytes | None = m.pop(field, None)
            self._drop_if_empty(key)
            return value

    def map_popitem(self, key: str) -> tuple[bytes, bytes] | None:
        """Remove and return the last inserted field and value, or None."""
        with self._cond:
            m = self._typed(key, dict)
            if not m:
                return None
            item: tuple[bytes, bytes] = m.popitem()
            self._drop_if_empty(key)
            return item

    def map_items(self, key: str) -> list[tuple[bytes, bytes]]:
        """All fields and values in insertion order."""
        with self._cond:
            return list((self._typed(key, dict) or {}).items())

    def map_len(self, key: str) -> int:
        """Number of fields."""
        with self._cond:
            return len(self._typed(key, dict) or ())

    def map_contains(self, key: str, field: bytes) -> bool:
        """Whether ``field`` is set."""
        with self._cond:
            return field in (self._typed(key, dict) or ())

    # -- waking blocked processes ------------------------------------------------------------------------
    def release_token(self, key: str, limit: int) -> bool:
        """Append a token unless the list already holds ``limit`` (0: no limit)."""
        with self._cond:
            lst = self._typed(key, deque, create=True)
            if limit > 0 and len(lst) >= limit:
                return False
            lst.append(b"1")
            self._cond.notify_all()
            return True

    def wake(self, waiters: str, n: int, value: bytes) -> int:
        """Pop up to ``n`` (negative: all) waiter ids and push ``value`` to each one's list."""
        with self._cond:
            woken = 0
            while n < 0 or woken < n:
                wid = self._pop(waiters, True)
                if wid is None:
                    break
                self._typed(f"{waiters}:{wid.decode()}", deque, create=True).append(value)
                woken += 1
            if woken:
                self._cond.notify_all()
            return woken

    def remove_waiter(self, waiters: str, wid: str) -> bool:
        """Remove ``wid`` from ``waiters``; False if it was not there."""
        with self._cond:
            lst = self._typed(waiters, deque)
            if not lst:
                return False
            try:
                lst.remove(wid.encode())
            except ValueError:
                return False
            self._drop_if_empty(waiters)
            return True

    # -- administration ----------------------------------------------------------------------------------
    def keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``."""
        with self._cond:
            return [k for k in self._data if k.startswith(prefix)]
