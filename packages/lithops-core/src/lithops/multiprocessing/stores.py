"""Which :class:`~lithops.multiprocessing.store.Store` a descriptor names: the factory, kept apart from the base
class so the implementations (:mod:`.localstore`, :mod:`.redisstore`) import the base and nothing imports back.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from lithops.multiprocessing.localstore import open_local_store
from lithops.multiprocessing.redisstore import RedisStore
from lithops.multiprocessing.store import STORE_ENV, Store, StoreError

_clients: dict[str, Store] = {}
_clients_pid = 0
_clients_lock = threading.Lock()


def _descriptor_key(descriptor: dict[str, Any]) -> str:
    return json.dumps(descriptor, sort_keys=True)


def connect(descriptor: dict[str, Any]) -> Store:
    """The client of the store named by ``descriptor`` (cached per process; a forked child makes its own)."""
    global _clients_pid
    key = _descriptor_key(descriptor)
    with _clients_lock:
        if _clients_pid != os.getpid():
            _clients.clear()
            _clients_pid = os.getpid()
        client = _clients.get(key)
    if client is not None:
        return client
    kind = descriptor.get("kind")
    if kind == "local":
        client = open_local_store(descriptor)
    elif kind == "redis":
        client = RedisStore(descriptor)
    else:
        raise StoreError(f"unknown lithops.multiprocessing store kind {kind!r} in {descriptor!r}.")
    with _clients_lock:
        return _clients.setdefault(key, client)


def store_from_env() -> Store | None:
    """The store named by ``LITHOPS_MULTIPROCESSING_STORE`` (set in workers), or None."""
    raw = os.environ.get(STORE_ENV)
    if not raw:
        return None
    return connect(json.loads(raw))
