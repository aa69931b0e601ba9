"""The store interface that holds all state shared by ``lithops.multiprocessing`` objects, and reaching a store.

Every shared object (queue, lock, value, manager dict, pipe ...) is a few keys in a store. Two implementations
sit behind :class:`Store`: Redis (:mod:`.redisstore`, for workers on other machines) and a small server started in
the driver on 127.0.0.1 (:mod:`.localstore`, zero set-up on localhost). A store is named by a *descriptor*, a
JSON-able dict (``{"kind": "redis", "host": ..., ...}`` or ``{"kind": "local", "address": ..., "authkey": ...}``)
that travels inside pickled objects and in the ``LITHOPS_MULTIPROCESSING_STORE`` environment variable of workers;
:func:`connect` turns it back into a client, one per descriptor and process.

The operations are Redis-like on purpose: values are bytes, a key holds a string, a list or a map, empty lists
and maps do not exist, and a few compound operations (``wake``, ``release_token`` ...) are atomic.

Objects are written with :meth:`Store.dumps` and read with :meth:`Store.loads`. When the descriptor holds a
``secret`` (Redis descriptors always do: a random key made for each run), every pickle is prefixed with its
HMAC-SHA256 under that key and checked before it is unpickled, so a value that anyone else who can reach the
server wrote is refused with :class:`StoreIntegrityError` instead of running their code. The local store needs no
tags: only clients that proved they know its key can connect to it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

from lithops.errors import LithopsError
from lithops.job import serialize

#: Environment variable holding the descriptor (JSON) of the store that workers of this driver use.
STORE_ENV = "LITHOPS_MULTIPROCESSING_STORE"
#: Prefix of every key lithops.multiprocessing writes.
KEY_PREFIX = "lithops:mp"


class StoreError(LithopsError):
    """A store operation failed."""


class StoreUnavailableError(StoreError, ConnectionError):
    """The store cannot be reached."""


class StoreIntegrityError(StoreError):
    """A value read from the store does not carry this program's signature: it was not unpickled."""


#: Bytes of the HMAC-SHA256 tag in front of each signed value.
TAG_SIZE = 32


class Store(ABC):
    """Operations on shared state. Values are ``bytes``; keys are ``str``.

    Blocking operations take ``timeout`` in seconds: ``None`` waits for ever. Implementations override every
    method below (the local client forwards them by name to the server's in-memory store).
    """

    kind: ClassVar[str] = ""

    def __init__(self, descriptor: dict[str, Any]) -> None:
        self.descriptor = descriptor
        secret = descriptor.get("secret")
        self._secret = bytes.fromhex(secret) if secret else None

    # -- signed values -------------------------------------------------------------------------------------
    def seal(self, data: bytes) -> bytes:
        """``data`` prefixed with its HMAC tag when this store signs values (else unchanged)."""
        if self._secret is None:
            return data
        return hmac.new(self._secret, data, hashlib.sha256).digest() + data

    def unseal(self, data: bytes) -> bytes:
        """The bytes :meth:`seal` was given; :class:`StoreIntegrityError` if the tag does not match."""
        if self._secret is None:
            return data
        tag, body = data[:TAG_SIZE], data[TAG_SIZE:]
        if len(tag) < TAG_SIZE or not hmac.compare_digest(tag, hmac.new(self._secret, body, hashlib.sha256).digest()):
            raise StoreIntegrityError(
                f"a value read from the lithops.multiprocessing {self.kind} store was not written by this program "
                f"(its signature does not match), so it was not unpickled. Another client of the server wrote or "
                f"changed it: protect the server with a password (the 'redis' section's password) and do not "
                f"share it with untrusted users."
            )
        return body

    def dumps(self, obj: Any) -> bytes:
        """``obj`` pickled (and signed, see :meth:`seal`) for writing to this store."""
        return self.seal(serialize.dumps(obj))

    def loads(self, data: bytes) -> Any:
        """The object :meth:`dumps` wrote; refuses what this program did not write."""
        return serialize.loads(self.unseal(data))

    # -- strings -------------------------------------------------------------------------------------------
    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The string at ``key``, or None."""

    @abstractmethod
    def set(self, key: str, value: bytes) -> None:
        """Store a string at ``key``."""

    @abstractmethod
    def delete(self, *keys: str) -> int:
        """Delete keys of any type; return how many existed."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` holds anything."""

    @abstractmethod
    def incr(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` to the integer at ``key`` (missing: 0) and return the new value."""

    @abstractmethod
    def getrange(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of the string at ``key``."""

    @abstractmethod
    def setrange(self, key: str, offset: int, value: bytes) -> None:
        """Overwrite the string at ``key`` from ``offset`` (padding with zero bytes)."""

    # -- lists -----------------------------------------------------------------------------------------------
    @abstractmethod
    def rpush(self, key: str, *values: bytes) -> int:
        """Append to the list at ``key``; return its new length."""

    @abstractmethod
    def lpush(self, key: str, *values: bytes) -> int:
        """Prepend to the list at ``key`` (each value in turn); return its new length."""

    @abstractmethod
    def lpop(self, key: str) -> bytes | None:
        """Remove and return the first element, or None."""

    @abstractmethod
    def rpop(self, key: str) -> bytes | None:
        """Remove and return the last element, or None."""

    @abstractmethod
    def blpop(self, key: str, timeout: float | None) -> bytes | None:
        """Remove and return the first element, waiting up to ``timeout`` (> 0, or None: for ever)."""

    @abstractmethod
    def llen(self, key: str) -> int:
        """Length of the list at ``key``."""

    @abstractmethod
    def lrange(self, key: str, start: int, stop: int) -> list[bytes]:
        """Elements ``start`` to ``stop`` inclusive (negative counts from the end)."""

    @abstractmethod
    def lindex(self, key: str, index: int) -> bytes | None:
        """The element at ``index`` (negative counts from the end), or None if out of range."""

    @abstractmethod
    def lset(self, key: str, index: int, value: bytes) -> bool:
        """Replace the element at ``index``; False if out of range."""

    @abstractmethod
    def list_replace(self, key: str, expected: list[bytes] | None, values: list[bytes]) -> bool:
        """Replace the whole list with ``values`` if it still equals ``expected`` (None: unconditionally)."""

    @abstractmethod
    def push_bounded(self, key: str, value: bytes, limit: int, waiters: str, wid: str) -> bool:
        """Append ``value`` if the list holds fewer than ``limit`` elements; else register ``wid`` in the list
        ``waiters`` (unless ``wid`` is empty) and return False.
        """

    # -- ordered maps ------------------------------------------------------------------------------------------
    @abstractmethod
    def map_set(self, key: str, items: list[tuple[bytes, bytes]]) -> None:
        """Set fields; new fields go after the existing ones, replaced fields keep their place."""

    @abstractmethod
    def map_get(self, key: str, field: bytes) -> bytes | None:
        """The value of ``field``, or None."""

    @abstractmethod
    def map_setdefault(self, key: str, field: bytes, value: bytes) -> bytes:
        """Set ``field`` unless present; return its value."""

    @abstractmethod
    def map_pop(self, key: str, field: bytes) -> bytes | None:
        """Remove ``field`` and return its value, or None if absent."""

    @abstractmethod
    def map_popitem(self, key: str) -> tuple[bytes, bytes] | None:
        """Remove and return the last inserted field and its value, or None if empty."""

    @abstractmethod
    def map_items(self, key: str) -> list[tuple[bytes, bytes]]:
        """All fields and values, in insertion order."""

    @abstractmethod
    def map_len(self, key: str) -> int:
        """Number of fields."""

    @abstractmethod
    def map_contains(self, key: str, field: bytes) -> bool:
        """Whether ``field`` is set."""

    # -- waking blocked processes ------------------------------------------------------------------------
    @abstractmethod
    def release_token(self, key: str, limit: int) -> bool:
        """Append a token to the list at ``key`` unless it already holds ``limit`` (0: no limit)."""

    @abstractmethod
    def wake(self, waiters: str, n: int, value: bytes) -> int:
        """Pop up to ``n`` (negative: all) waiter ids from the list ``waiters`` and push ``value`` to each
        one's list ``<waiters>:<id>``, atomically; return how many were woken.
        """

    @abstractmethod
    def remove_waiter(self, waiters: str, wid: str) -> bool:
        """Remove ``wid`` from the list ``waiters``; False if it was not there (it was woken)."""

    # -- administration ----------------------------------------------------------------------------------
    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``."""

    def close(self) -> None:  # noqa: B027 - optional operation
        """Release connections (the store itself is not affected)."""

    # -- helpers built on the operations --------------------------------------------------------------------
    def pop_wait(self, key: str, timeout: float | None) -> bytes | None:
        """Pop the first element, waiting up to ``timeout`` seconds (None: for ever; <= 0: not at all)."""
        if timeout is not None and timeout <= 0:
            return self.lpop(key)
        return self.blpop(key, timeout)

    def new_key(self, kind: str) -> str:
        """A fresh key for an object of ``kind`` created in this process."""
        return f"{KEY_PREFIX}:{_session()}:{next(_counter)}:{kind}"


#: Names of the operations a store implements (what the local store server accepts).
OPERATIONS = (
    "get", "set", "delete", "exists", "incr", "getrange", "setrange",
    "rpush", "lpush", "lpop", "rpop", "blpop", "llen", "lrange", "lindex", "lset", "list_replace", "push_bounded",
    "map_set", "map_get", "map_setdefault", "map_pop", "map_popitem", "map_items", "map_len", "map_contains",
    "release_token", "wake", "remove_waiter", "keys",
)

_counter = itertools.count(1)
_session_id: tuple[int, str] | None = None


def _session() -> str:
    """An id unique to this process (renewed after a fork)."""
    global _session_id
    pid = os.getpid()
    if _session_id is None or _session_id[0] != pid:
        _session_id = (pid, uuid.uuid4().hex[:12])
    return _session_id[1]


def delete_quietly(store_ref: weakref.ReferenceType[Store] | Store, keys: Iterable[str]) -> None:
    """Delete ``keys``, ignoring an unreachable store (used by finalizers, possibly at interpreter exit)."""
    store = store_ref() if isinstance(store_ref, weakref.ReferenceType) else store_ref
    if store is None:
        return
    try:
        store.delete(*keys)
    except Exception:  # the store went away first (exit, driver gone): nothing is left to clean
        pass
