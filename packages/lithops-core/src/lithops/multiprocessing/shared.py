"""Base of every object whose state lives in a store, and the waiter protocol that blocking objects use.

A shared object is its store plus a key. Pickling it (to pass it to a Pool task or a Process) sends the store's
descriptor and the key; the copy reconnects on arrival. The process that created an object owns its keys and
deletes them when the object is garbage collected (or the process exits).

Waiting for a condition (an Event to be set, a Condition to be notified, room in a full Queue) goes through a
*waiters* list: the waiter pushes an id to it, re-checks the condition, then blocks popping its own list
``<waiters>:<id>``; whoever changes the condition calls :meth:`Store.wake`, which moves ids off the waiters list
and pushes a token to each one's list atomically. Nothing polls.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any, ClassVar

from lithops.multiprocessing.store import Store, delete_quietly
from lithops.multiprocessing.stores import connect


class SharedObject:
    """An object whose state is a few keys in a store (see the module docs)."""

    #: Attributes that are not sent with the object, and the value a received copy starts with.
    _LOCAL_STATE: ClassVar[dict[str, Any]] = {}

    _store: Store
    _key: str

    def _attach(self, kind: str, suffixes: tuple[str, ...] = ("",)) -> None:
        """Give this new object a key in the current store; its keys are ``key + suffix`` for each suffix."""
        from lithops.multiprocessing.context import current_store

        store = current_store()
        self._store = store
        self._key = store.new_key(kind)
        self._finalizer = weakref.finalize(self, delete_quietly, store, [self._key + s for s in suffixes])
        for name, value in self._LOCAL_STATE.items():
            setattr(self, name, value)

    def _release_keys(self) -> None:
        """Delete this object's keys now (its owner only; copies elsewhere stop working)."""
        finalizer = self.__dict__.get("_finalizer")
        if finalizer is not None:
            finalizer()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_finalizer", None)
        for name in self._LOCAL_STATE:
            state.pop(name, None)
        state["_store"] = self._store.descriptor
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["_store"] = connect(state["_store"])
        self.__dict__.update(state)
        for name, value in self._LOCAL_STATE.items():
            self.__dict__.setdefault(name, value)


def new_waiter_id() -> str:
    """A fresh waiter id."""
    return uuid.uuid4().hex


def register_waiter(store: Store, waiters: str) -> str:
    """Register a new waiter on ``waiters`` and return its id (then re-check the condition, then wait)."""
    wid = new_waiter_id()
    store.rpush(waiters, wid.encode())
    return wid


def withdraw(store: Store, waiters: str, wid: str) -> None:
    """Unregister a waiter that will not wait after all, dropping a token that may already be on its list."""
    if not store.remove_waiter(waiters, wid):
        store.delete(f"{waiters}:{wid}")


def await_wake(store: Store, waiters: str, wid: str, timeout: float | None) -> bytes | None:
    """Block until the registered waiter ``wid`` is woken (return the token) or ``timeout`` passes (None)."""
    own = f"{waiters}:{wid}"
    try:
        token = store.pop_wait(own, timeout)
    except BaseException:
        withdraw(store, waiters, wid)
        raise
    if token is None and not store.remove_waiter(waiters, wid):
        token = store.lpop(own)  # woken just as the wait timed out: the token is there (wake is atomic)
    return token
