"""What a backend has made ready once per client (a deployed function checked to run the client's Python), kept
per key and made under a lock, so that threads invoking at once deploy it only once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReadyCache(Generic[K, V]):
    """Values made once per key by the caller's ``make``, until :meth:`forget`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[K, V] = {}

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The value of ``key``: ``make()`` the first time (other callers of any key wait meanwhile; a ``make`` that
        raises leaves nothing cached).
        """
        with self._lock:
            if key not in self._ready:
                self._ready[key] = make()
            return self._ready[key]

    def forget(self, key: K) -> None:
        """Drop the value of ``key`` (the thing was deleted or changed behind our back); the next get makes it."""
        with self._lock:
            self._ready.pop(key, None)
