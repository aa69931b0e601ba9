"""Locks, semaphores, conditions, events and barriers shared through the store.

A lock or semaphore is a list of tokens: acquiring pops one (blocking), releasing pushes one back, atomically
refused past the bound of a Lock or BoundedSemaphore. Which thread of which process holds a Lock or RLock is
recorded in the holding process only (nobody else needs it): that gives RLock its recursion and Condition its
ownership checks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from lithops.multiprocessing.shared import SharedObject, await_wake, register_waiter, withdraw

#: Locks held by threads of this process: key -> (thread ident, recursion count).
_held: dict[str, tuple[int, int]] = {}


class _SemLock(SharedObject):
    """Tokens in a store list; ``maxvalue`` > 0 bounds how many releases may accumulate."""

    _KIND = "semlock"

    def __init__(self, value: int, maxvalue: int) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._maxvalue = maxvalue
        self._attach(self._KIND)
        if value:
            self._store.rpush(self._key, *([b"1"] * value))

    def _take(self, block: bool, timeout: float | None) -> bool:
        if not block:
            return self._store.lpop(self._key) is not None
        return self._store.pop_wait(self._key, timeout) is not None

    def _give(self) -> None:
        if not self._store.release_token(self._key, self._maxvalue):
            raise ValueError("semaphore or lock released too many times")

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take a token: wait up to ``timeout`` seconds (None: for ever) unless ``block`` is False."""
        return self._take(block, timeout)

    def release(self) -> None:
        """Give a token back."""
        self._give()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def get_value(self) -> int:
        """Tokens available now."""
        return self._store.llen(self._key)


#: The public name of the token-list base class (as ``multiprocessing.synchronize.SemLock``).
SemLock = _SemLock


class Semaphore(_SemLock):
    """A counting semaphore shared by every process (``acquire``, ``release``, ``get_value``)."""

    _KIND = "semaphore"

    def __init__(self, value: int = 1, *, ctx: Any = None) -> None:
        super().__init__(value, 0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(value={self.get_value()})>"


class BoundedSemaphore(Semaphore):
    """A semaphore whose ``release`` raises ValueError past its initial value."""

    _KIND = "boundedsemaphore"

    def __init__(self, value: int = 1, *, ctx: Any = None) -> None:
        _SemLock.__init__(self, value, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(value={self.get_value()}, maxvalue={self._maxvalue})>"


class Lock(_SemLock):
    """A non-recursive lock shared by every process; any process may release it."""

    _KIND = "lock"

    def __init__(self, *, ctx: Any = None) -> None:
        super().__init__(1, 1)

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Acquire the lock: wait up to ``timeout`` seconds (None: for ever) unless ``block`` is False."""
        if not self._take(block, timeout):
            return False
        _held[self._key] = (threading.get_ident(), 1)
        return True

    def release(self) -> None:
        """Release the lock (ValueError if it is not held)."""
        self._give()
        _held.pop(self._key, None)

    def _is_mine(self) -> bool:
        return _held.get(self._key, (None, 0))[0] == threading.get_ident()

    def _release_save(self) -> int:
        self.release()
        return 1

    def _acquire_restore(self, count: int) -> None:
        self.acquire()

    def __repr__(self) -> str:
        if self._is_mine():
            owner = f"{threading.current_thread().name}"
        else:
            owner = "None" if self.get_value() else "SomeOtherThread"
        return f"<{type(self).__name__}(owner={owner})>"


class RLock(_SemLock):
    """A recursive lock: the holding thread may acquire it again; only it may release it."""

    _KIND = "rlock"

    def __init__(self, *, ctx: Any = None) -> None:
        super().__init__(1, 1)

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Acquire the lock (again, if this thread holds it)."""
        me = threading.get_ident()
        holder, count = _held.get(self._key, (None, 0))
        if holder == me:
            _held[self._key] = (me, count + 1)
            return True
        if not self._take(block, timeout):
            return False
        _held[self._key] = (me, 1)
        return True

    def release(self) -> None:
        """Release one level; the last release frees the lock. AssertionError if this thread does not hold it."""
        me = threading.get_ident()
        holder, count = _held.get(self._key, (None, 0))
        if holder != me:
            raise AssertionError("attempt to release recursive lock not owned by thread")
        if count > 1:
            _held[self._key] = (me, count - 1)
            return
        del _held[self._key]
        self._give()

    def _is_mine(self) -> bool:
        return _held.get(self._key, (None, 0))[0] == threading.get_ident()

    def _release_save(self) -> int:
        _, count = _held.pop(self._key)
        self._give()
        return count

    def _acquire_restore(self, count: int) -> None:
        self._take(True, None)
        _held[self._key] = (threading.get_ident(), count)

    def __repr__(self) -> str:
        holder, count = _held.get(self._key, (None, 0))
        if holder == threading.get_ident():
            return f"<{type(self).__name__}({threading.current_thread().name}, {count})>"
        return f"<{type(self).__name__}({'None' if self.get_value() else 'SomeOtherThread'}, 0)>"


class Condition(SharedObject):
    """A condition variable over a shared Lock or RLock (an RLock of its own by default)."""

    def __init__(self, lock: Lock | RLock | None = None, *, ctx: Any = None) -> None:
        self._lock: Lock | RLock = lock if lock is not None else RLock()
        self._attach("condition")

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Acquire the underlying lock."""
        return self._lock.acquire(block, timeout)

    def release(self) -> None:
        """Release the underlying lock."""
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()

    def _check_owned(self, message: str) -> None:
        if not self._lock._is_mine():
            raise AssertionError(message)

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, sleep until notified or ``timeout`` passes, take the lock back; True if notified."""
        self._check_owned("must acquire() condition before using wait()")
        wid = register_waiter(self._store, self._key)
        saved = self._lock._release_save()
        try:
            return await_wake(self._store, self._key, wid, timeout) is not None
        finally:
            self._lock._acquire_restore(saved)

    def wait_for(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        """Wait until ``predicate()`` is true or ``timeout`` passes; return the last value of ``predicate()``."""
        result = predicate()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not result:
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
            self.wait(remaining)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiting processes or threads."""
        self._check_owned("lock is not owned")
        if n > 0:
            self._store.wake(self._key, n, b"1")

    def notify_all(self, msg: str = "") -> None:
        """Wake every waiter. ``msg`` is accepted as Lithops's ``notify_all(msg)`` does; like there, waiters
        only learn that they were notified (``wait`` returns True).
        """
        self._check_owned("lock is not owned")
        self._store.wake(self._key, -1, b"1")

    notifyAll = notify_all

    def __repr__(self) -> str:
        return f"<{type(self).__name__}({self._lock!r}, {self._store.llen(self._key)})>"


class Event(SharedObject):
    """A flag that processes can wait for (``set``, ``clear``, ``is_set``, ``wait``)."""

    def __init__(self, *, ctx: Any = None) -> None:
        self._attach("event", ("", ":flag"))

    @property
    def _flag(self) -> str:
        return self._key + ":flag"

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._store.exists(self._flag)

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self._store.set(self._flag, b"1")
        self._store.wake(self._key, -1, b"1")

    def clear(self) -> None:
        """Clear the flag."""
        self._store.delete(self._flag)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set or ``timeout`` passes; return whether it was set."""
        if self.is_set():
            return True
        wid = register_waiter(self._store, self._key)
        if self.is_set():
            withdraw(self._store, self._key, wid)
            return True
        if await_wake(self._store, self._key, wid, timeout) is not None:
            return True
        return self.is_set()

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} at {id(self):#x} {'set' if self.is_set() else 'unset'}>"


class Barrier(SharedObject, threading.Barrier):
    """``threading.Barrier`` semantics across processes: its state is in the store, its lock a shared Condition.

    The algorithm is the standard library's own (``threading.Barrier``); only where its counters live changes.
    """

    def __init__(
        self, parties: int, action: Callable[[], Any] | None = None, timeout: float | None = None, *, ctx: Any = None
    ) -> None:
        if parties < 1:
            raise ValueError("parties must be >= 1")
        self._attach("barrier", (":state", ":count"))
        self._cond = Condition(Lock())  # type: ignore[assignment]
        self._action = action
        self._timeout = timeout
        self._parties = parties
        self._state = 0
        self._count = 0

    def _get_int(self, suffix: str) -> int:
        value = self._store.get(self._key + suffix)
        return int(value) if value else 0

    @property  # type: ignore[override]
    def _state(self) -> int:
        return self._get_int(":state")

    @_state.setter
    def _state(self, value: int) -> None:
        self._store.set(self._key + ":state", str(value).encode())

    @property  # type: ignore[override]
    def _count(self) -> int:
        return self._get_int(":count")

    @_count.setter
    def _count(self, value: int) -> None:
        self._store.set(self._key + ":count", str(value).encode())

    def __repr__(self) -> str:
        state = "broken" if self.broken else "ok"
        return f"<{type(self).__name__} parties={self.parties} waiting={self.n_waiting} {state}>"
