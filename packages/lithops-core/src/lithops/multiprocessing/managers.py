"""``Manager()``: a ``SyncManager`` whose objects live in the store instead of a server process.

``dict`` is an ordered map (insertion order kept, as a dict's), ``list`` a store list, ``Namespace`` an
ordered map of attribute names. Each method call is one store operation, atomic on its own; list methods that
rearrange the whole list (``sort``, ``insert``, ``remove``, slice assignment ...) re-write it with a
compare-and-swap, retried if another process changed the list meanwhile. Shutting the manager down (or leaving
its ``with`` block) deletes every object it made.
"""

from __future__ import annotations

import struct
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, MutableMapping, MutableSequence
from typing import Any, ClassVar

from lithops.multiprocessing.shared import SharedObject
from lithops.multiprocessing.store import Store

# -- dict keys: equal keys of the common types must give equal bytes ---------------------------------------------


def encode_key(key: Any, store: Store) -> bytes:
    """Bytes naming a dict key: canonical for str, int, float, bytes, bool, None and tuples of them (other keys
    are pickled for ``store``).
    """
    kind = type(key)
    if kind is str:
        return b"s" + key.encode("utf-8", "surrogatepass")
    if kind is int:
        return b"i" + str(key).encode()
    if kind is bool:
        return b"?1" if key else b"?0"
    if kind is float:
        return b"f" + key.hex().encode()
    if kind is bytes:
        return b"b" + key
    if key is None:
        return b"n"
    if kind is tuple:
        parts = [encode_key(item, store) for item in key]
        return b"t" + b"".join(struct.pack(">I", len(p)) + p for p in parts)
    return b"p" + store.dumps(key)


def decode_key(data: bytes, store: Store) -> Any:
    """Inverse of :func:`encode_key`."""
    tag, body = data[:1], data[1:]
    if tag == b"s":
        return body.decode("utf-8", "surrogatepass")
    if tag == b"i":
        return int(body)
    if tag == b"?":
        return body == b"1"
    if tag == b"f":
        return float.fromhex(body.decode())
    if tag == b"b":
        return bytes(body)
    if tag == b"n":
        return None
    if tag == b"t":
        items, pos = [], 0
        while pos < len(body):
            (size,) = struct.unpack(">I", body[pos:pos + 4])
            items.append(decode_key(body[pos + 4:pos + 4 + size], store))
            pos += 4 + size
        return tuple(items)
    return store.loads(bytes(body))


_MISSING = object()


class DictProxy(SharedObject, MutableMapping):  # type: ignore[type-arg]
    """A dict shared by every process. ``keys()``, ``values()`` and ``items()`` return lists (as the standard
    library's proxy does); ``copy()`` returns a plain dict.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        initial = dict(*args, **kwargs)
        self._attach("dict")
        if initial:
            self.update(initial)

    def __getitem__(self, key: Any) -> Any:
        value = self._store.map_get(self._key, encode_key(key, self._store))
        if value is None:
            raise KeyError(key)
        return self._store.loads(value)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._store.map_set(self._key, [(encode_key(key, self._store), self._store.dumps(value))])

    def __delitem__(self, key: Any) -> None:
        if self._store.map_pop(self._key, encode_key(key, self._store)) is None:
            raise KeyError(key)

    def __len__(self) -> int:
        return self._store.map_len(self._key)

    def __iter__(self) -> Iterator[Any]:
        """The keys; like the standard library's proxy (which iterates the dict in the manager), RuntimeError if
        the dict changes size meanwhile.
        """
        keys = self.keys()
        for key in keys:
            if self._store.map_len(self._key) != len(keys):
                raise RuntimeError("dictionary changed size during iteration")
            yield key

    def __contains__(self, key: object) -> bool:
        return self._store.map_contains(self._key, encode_key(key, self._store))

    def _items(self) -> list[tuple[Any, Any]]:
        return [(decode_key(k, self._store), self._store.loads(v)) for k, v in self._store.map_items(self._key)]

    def keys(self) -> list[Any]:  # type: ignore[override]
        """The keys, in insertion order."""
        return [decode_key(k, self._store) for k, _ in self._store.map_items(self._key)]

    def values(self) -> list[Any]:  # type: ignore[override]
        """The values, in insertion order of their keys."""
        return [self._store.loads(v) for _, v in self._store.map_items(self._key)]

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """``(key, value)`` pairs in insertion order."""
        return self._items()

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        value = self._store.map_get(self._key, encode_key(key, self._store))
        return default if value is None else self._store.loads(value)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (``default``, or KeyError, when absent)."""
        value = self._store.map_pop(self._key, encode_key(key, self._store))
        if value is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return self._store.loads(value)

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last inserted ``(key, value)``."""
        item = self._store.map_popitem(self._key)
        if item is None:
            raise KeyError("popitem(): dictionary is empty")
        return decode_key(item[0], self._store), self._store.loads(item[1])

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, setting it to ``default`` first if absent (atomically)."""
        store = self._store
        return store.loads(store.map_setdefault(self._key, encode_key(key, store), store.dumps(default)))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Set many keys in one operation (same arguments as ``dict.update``)."""
        values = dict(*args, **kwargs)
        store = self._store
        store.map_set(self._key, [(encode_key(k, store), store.dumps(v)) for k, v in values.items()])

    def clear(self) -> None:
        """Remove every key."""
        self._store.delete(self._key)

    def copy(self) -> dict[Any, Any]:
        """A plain dict with the current contents."""
        return dict(self._items())

    def __str__(self) -> str:
        return str(self.copy())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object, typeid 'dict' at {hex(id(self))}>"


class ListProxy(SharedObject, MutableSequence):  # type: ignore[type-arg]
    """A list shared by every process."""

    def __init__(self, sequence: Iterable[Any] = ()) -> None:
        self._attach("list")
        items = [self._store.dumps(x) for x in sequence]
        if items:
            self._store.rpush(self._key, *items)

    def _snapshot(self) -> list[Any]:
        return [self._store.loads(x) for x in self._store.lrange(self._key, 0, -1)]

    def _mutate(self, change: Callable[[list[Any]], Any]) -> Any:
        """Apply ``change`` to a copy of the list and write it back unless another process changed it first."""
        while True:
            raw = self._store.lrange(self._key, 0, -1)
            values = [self._store.loads(x) for x in raw]
            result = change(values)
            if self._store.list_replace(self._key, raw, [self._store.dumps(x) for x in values]):
                return result

    def __len__(self) -> int:
        return self._store.llen(self._key)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._snapshot()[index]
        import operator

        value = self._store.lindex(self._key, operator.index(index))
        if value is None:
            raise IndexError("list index out of range")
        return self._store.loads(value)

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            items = list(value)
            self._mutate(lambda lst: lst.__setitem__(index, items))
            return
        import operator

        if not self._store.lset(self._key, operator.index(index), self._store.dumps(value)):
            raise IndexError("list assignment index out of range")

    def __delitem__(self, index: Any) -> None:
        self._mutate(lambda lst: lst.__delitem__(index))

    def insert(self, index: int, value: Any) -> None:
        """Insert ``value`` before ``index``."""
        self._mutate(lambda lst: lst.insert(index, value))

    def append(self, value: Any) -> None:
        """Add ``value`` at the end."""
        self._store.rpush(self._key, self._store.dumps(value))

    def extend(self, values: Iterable[Any]) -> None:
        """Add every element of ``values`` at the end, in one operation."""
        items = [self._store.dumps(x) for x in values]
        if items:
            self._store.rpush(self._key, *items)

    def pop(self, index: int = -1) -> Any:
        """Remove and return the element at ``index`` (the last by default)."""
        if index in (-1, 0):
            value = self._store.rpop(self._key) if index == -1 else self._store.lpop(self._key)
            if value is None:
                raise IndexError("pop from empty list")
            return self._store.loads(value)
        return self._mutate(lambda lst: lst.pop(index))

    def remove(self, value: Any) -> None:
        """Remove the first element equal to ``value``."""
        self._mutate(lambda lst: lst.remove(value))

    def reverse(self) -> None:
        """Reverse in place."""
        self._mutate(lambda lst: lst.reverse())

    def sort(self, *, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        """Sort in place."""
        self._mutate(lambda lst: lst.sort(key=key, reverse=reverse))

    def index(self, value: Any, start: int = 0, stop: int = sys.maxsize) -> int:
        """Position of the first element equal to ``value``."""
        return self._snapshot().index(value, start, stop)

    def count(self, value: Any) -> int:
        """Number of elements equal to ``value``."""
        return self._snapshot().count(value)

    def __iter__(self) -> Iterator[Any]:
        """The elements, read one at a time as iteration reaches them (changes made meanwhile are seen, as with
        the standard library's proxy).
        """
        index = 0
        while True:
            value = self._store.lindex(self._key, index)
            if value is None:
                return
            yield self._store.loads(value)
            index += 1

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self._snapshot())

    def __contains__(self, value: object) -> bool:
        return value in self._snapshot()

    def __iadd__(self, values: Iterable[Any]) -> ListProxy:
        self.extend(values)
        return self

    def __imul__(self, n: int) -> ListProxy:
        self._mutate(lambda lst: lst.__imul__(n))
        return self

    def __add__(self, other: Iterable[Any]) -> list[Any]:
        return self._snapshot() + list(other)

    def __mul__(self, n: int) -> list[Any]:
        return self._snapshot() * n

    __rmul__ = __mul__

    def __str__(self) -> str:
        return str(self._snapshot())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object, typeid 'list' at {hex(id(self))}>"


class NamespaceProxy(SharedObject):
    """Attributes shared by every process (names starting with ``_`` stay local to each handle)."""

    def __init__(self, **kwargs: Any) -> None:
        self._attach("namespace")
        if kwargs:
            self._store.map_set(self._key, [(name.encode(), self._store.dumps(v)) for name, v in kwargs.items()])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._store.map_get(self._key, name.encode())
        if value is None:
            raise AttributeError(f"'Namespace' object has no attribute {name!r}")
        return self._store.loads(value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self._store.map_set(self._key, [(name.encode(), self._store.dumps(value))])

    def __delattr__(self, name: str) -> None:
        if name.startswith("_"):
            object.__delattr__(self, name)
        elif self._store.map_pop(self._key, name.encode()) is None:
            raise AttributeError(f"'Namespace' object has no attribute {name!r}")

    def __str__(self) -> str:
        items = ", ".join(f"{k.decode()}={self._store.loads(v)!r}" for k, v in self._store.map_items(self._key))
        return f"Namespace({items})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object, typeid 'Namespace' at {hex(id(self))}>"


class ValueProxy(SharedObject):
    """One picklable value shared by every process (``get``, ``set``, ``.value``)."""

    def __init__(self, typecode: Any, value: Any, lock: Any = True) -> None:
        self._typecode = typecode
        self._attach("managedvalue")
        self.set(value)

    def get(self) -> Any:
        """The current value."""
        return self._store.loads(self._store.get(self._key) or self._store.dumps(None))

    def set(self, value: Any) -> None:
        """Replace the value."""
        self._store.set(self._key, self._store.dumps(value))

    value = property(get, set, doc="The current value.")

    def __str__(self) -> str:
        return f"Value({self._typecode!r}, {self.get()!r})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object, typeid 'Value' at {hex(id(self))}>"


def __getattr__(name: str) -> Any:
    if name == "ArrayProxy":  # Lithops's name for what manager.Array() returns
        from lithops.multiprocessing.sharedctypes import SynchronizedArray

        return SynchronizedArray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BaseProxy(SharedObject):
    """A proxy of an object of a ``register()``ed type. The object is kept pickled in the store; each method call
    (``_callmethod``) loads it, runs the method in the calling process and stores it back, under a shared lock,
    so calls from every process apply one after the other to the same object.

    Subclasses list the methods they expose in ``_exposed_`` and call ``self._callmethod(name, args, kwds)``,
    as with the standard library's ``BaseProxy``.
    """

    _exposed_: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, referent: Any, exposed: Iterable[str] | None = None) -> None:
        from lithops.multiprocessing.synchronize import Lock

        self._attach("proxy")
        if exposed is None:
            exposed = self._exposed_ if self._exposed_ is not None else public_methods(referent)
        self._exposed = tuple(exposed)
        self._mutex = Lock()
        self._typename = type(referent).__qualname__
        try:
            data = self._store.dumps(referent)
        except Exception as exc:
            raise TypeError(
                f"a register()ed {type(referent).__qualname__} object cannot be shared: lithops.multiprocessing "
                f"keeps it pickled in its store (there is no manager server process), and it cannot be pickled "
                f"({exc}). Keep shared locks, queues and the like as lithops.multiprocessing objects instead."
            ) from exc
        self._store.set(self._key, data)

    def _callmethod(self, methodname: str, args: tuple[Any, ...] = (), kwds: dict[str, Any] | None = None) -> Any:
        """Call ``methodname`` on the shared object and return (a copy of) its result."""
        store = self._store
        with self._mutex:
            raw = store.get(self._key)
            if raw is None:
                raise ReferenceError(f"the shared {self._typename} object no longer exists (its manager shut down)")
            referent = store.loads(raw)
            try:
                return getattr(referent, methodname)(*args, **(kwds or {}))
            finally:
                store.set(self._key, store.dumps(referent))

    def _getvalue(self) -> Any:
        """A copy of the shared object."""
        raw = self._store.get(self._key)
        if raw is None:
            raise ReferenceError(f"the shared {self._typename} object no longer exists (its manager shut down)")
        return self._store.loads(raw)

    def __str__(self) -> str:
        return str(self._callmethod("__str__"))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object, typeid {self._typename!r} at {hex(id(self))}>"


class AutoProxy(BaseProxy):
    """The proxy a registered type gets by default: every public method of the object (or ``exposed``)."""

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name in self.__dict__.get("_exposed", ()):
            def method(*args: Any, **kwds: Any) -> Any:
                return self._callmethod(name, args, kwds)

            method.__name__ = name
            return method
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def public_methods(obj: Any) -> list[str]:
    """Names of the public methods of ``obj`` (what a proxy exposes by default)."""
    return [name for name in dir(obj) if not name.startswith("_") and callable(getattr(obj, name, None))]


def _shutdown(objects: list[Any]) -> None:
    for obj in objects:
        release = getattr(obj, "_release_keys", None)
        if release is not None:
            release()
    objects.clear()


class BaseManager:
    """A manager whose objects live in the store instead of a server process: ``register()`` types on a
    subclass, create them with ``manager.<typeid>(...)``, pass the proxies to Processes and Pool tasks;
    ``shutdown()`` deletes them.
    """

    _registry: ClassVar[dict[str, tuple[Any, Any, Any]]] = {}

    def __init__(self, address: Any = None, authkey: bytes | None = None, serializer: str = "pickle",
                 ctx: Any = None, *, shutdown_timeout: float = 1.0) -> None:
        self._objects: list[Any] = []
        self._state = "initial"
        self._finalizer = weakref.finalize(self, _shutdown, self._objects)

    @classmethod
    def register(cls, typeid: str, callable: Callable[..., Any] | None = None, proxytype: Any = None,
                 exposed: Iterable[str] | None = None, method_to_typeid: dict[str, str] | None = None,
                 create_method: bool = True, can_manage: bool = True) -> None:
        """Register ``typeid``: ``manager.<typeid>(*args)`` makes ``callable(*args)`` a shared object and
        returns its proxy (``proxytype``, default :class:`AutoProxy`, exposing ``exposed`` or its public methods).
        ``method_to_typeid`` is accepted (results are returned as copies); ``can_manage`` is Lithops's and
        accepted (every object is deleted at ``shutdown()``).
        """
        if "_registry" not in cls.__dict__:
            cls._registry = dict(cls._registry)
        cls._registry[typeid] = (callable, proxytype, None if exposed is None else tuple(exposed))
        if create_method:
            def create(self: BaseManager, *args: Any, **kwds: Any) -> Any:
                return self._create(typeid, *args, **kwds)

            create.__name__ = create.__qualname__ = typeid
            create.__doc__ = f"A shared object of the registered type {typeid!r}."
            setattr(cls, typeid, create)

    def _create(self, typeid: str, *args: Any, **kwds: Any) -> Any:
        func, proxytype, exposed = self._registry[typeid]
        if func is None:
            raise NotImplementedError(
                f"{typeid!r} was registered without a callable: with lithops.multiprocessing objects live in the "
                f"store, not in a manager server another process runs, so register the callable in this process too."
            )
        referent = func(*args, **kwds)
        if isinstance(referent, SharedObject) and proxytype is None:
            return self._track(referent)  # already shared (a lithops.multiprocessing Queue, Lock ...)
        if proxytype is None:
            proxytype = AutoProxy
        if isinstance(proxytype, type) and issubclass(proxytype, BaseProxy):
            return self._track(proxytype(referent, exposed))
        return self._track(proxytype(referent))  # DictProxy, ListProxy: built from the object's contents

    # -- life cycle ------------------------------------------------------------------------------------------
    def start(self, initializer: Callable[..., Any] | None = None, initargs: Iterable[Any] = ()) -> None:
        """Mark the manager started (there is no server process; ``initializer`` runs here, once)."""
        if self._state == "started":
            raise RuntimeError("Already started manager")
        if initializer is not None:
            initializer(*initargs)
        self._state = "started"

    def connect(self) -> None:
        """Accepted for compatibility (nothing to connect to)."""
        self._state = "started"

    def get_server(self) -> Any:
        """Not available: there is no manager server (objects live in the store)."""
        raise NotImplementedError(
            "lithops.multiprocessing managers have no server: their objects live in the store, which every "
            "Process and Pool task of this program reaches. Share objects by passing their proxies instead."
        )

    def shutdown(self) -> None:
        """Delete every object this manager made."""
        _shutdown(self._objects)
        self._state = "shutdown"

    def join(self, timeout: float | None = None) -> None:
        """Accepted for compatibility (there is no server process to wait for)."""

    @property
    def address(self) -> None:
        """None: there is no manager server."""
        return None

    def __enter__(self) -> Any:
        if self._state == "initial":
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def _track(self, obj: Any) -> Any:
        if self._state == "shutdown":
            raise RuntimeError("the manager has been shut down; create a new one")
        self._objects.append(obj)
        return obj


class SyncManager(BaseManager):
    """Makes shared objects (``dict``, ``list``, ``Namespace``, ``Queue``, ``Lock`` ...). No server process is
    started: the objects live in the store; ``shutdown()`` deletes them.
    """

    # -- objects ---------------------------------------------------------------------------------------------
    def dict(self, *args: Any, **kwargs: Any) -> DictProxy:
        """A shared dict."""
        return self._track(DictProxy(*args, **kwargs))  # type: ignore[no-any-return]

    def list(self, sequence: Iterable[Any] = ()) -> ListProxy:
        """A shared list."""
        return self._track(ListProxy(sequence))  # type: ignore[no-any-return]

    def Namespace(self, **kwargs: Any) -> NamespaceProxy:
        """A shared namespace."""
        return self._track(NamespaceProxy(**kwargs))  # type: ignore[no-any-return]

    def Value(self, typecode: Any, value: Any, lock: Any = True) -> ValueProxy:
        """A shared value of any picklable type (``typecode`` is only recorded)."""
        return self._track(ValueProxy(typecode, value, lock))  # type: ignore[no-any-return]

    def Array(self, typecode: Any, sequence: Iterable[Any], lock: Any = True) -> Any:
        """A shared array of ``typecode`` elements."""
        from lithops.multiprocessing.sharedctypes import Array

        return self._track(Array(typecode, list(sequence), lock=lock))

    def Queue(self, maxsize: int = 0) -> Any:
        """A shared queue (with ``task_done``/``join``, like ``queue.Queue``)."""
        from lithops.multiprocessing.queues import JoinableQueue

        return self._track(JoinableQueue(maxsize))

    def JoinableQueue(self, maxsize: int = 0) -> Any:
        """A shared joinable queue."""
        from lithops.multiprocessing.queues import JoinableQueue

        return self._track(JoinableQueue(maxsize))

    def Lock(self) -> Any:
        """A shared lock."""
        from lithops.multiprocessing.synchronize import Lock

        return self._track(Lock())

    def RLock(self) -> Any:
        """A shared recursive lock."""
        from lithops.multiprocessing.synchronize import RLock

        return self._track(RLock())

    def Semaphore(self, value: int = 1) -> Any:
        """A shared semaphore."""
        from lithops.multiprocessing.synchronize import Semaphore

        return self._track(Semaphore(value))

    def BoundedSemaphore(self, value: int = 1) -> Any:
        """A shared bounded semaphore."""
        from lithops.multiprocessing.synchronize import BoundedSemaphore

        return self._track(BoundedSemaphore(value))

    def Condition(self, lock: Any = None) -> Any:
        """A shared condition variable."""
        from lithops.multiprocessing.synchronize import Condition

        return self._track(Condition(lock))

    def Event(self) -> Any:
        """A shared event."""
        from lithops.multiprocessing.synchronize import Event

        return self._track(Event())

    def Barrier(self, parties: int, action: Callable[[], Any] | None = None,
                timeout: float | None = None) -> Any:
        """A shared barrier."""
        from lithops.multiprocessing.synchronize import Barrier

        return self._track(Barrier(parties, action, timeout))

    def Pool(self, processes: int | None = None, initializer: Callable[..., Any] | None = None,
             initargs: Iterable[Any] = (), maxtasksperchild: int | None = None) -> Any:
        """A :class:`~lithops.multiprocessing.pool.Pool` (not deleted by ``shutdown``; close it yourself)."""
        from lithops.multiprocessing.pool import Pool

        return Pool(processes, initializer, tuple(initargs), maxtasksperchild)


def Manager(*, ctx: Any = None) -> SyncManager:
    """A started :class:`SyncManager`."""
    manager = SyncManager()
    manager.start()
    return manager
