"""``Value``/``Array`` (and the lock-free ``RawValue``/``RawArray``): ctypes data kept as raw bytes in the store.

A value is the bytes of one ctypes object at one key; element ``i`` of an array is ``sizeof(type)`` bytes at
offset ``i * sizeof(type)``, read and written with ranged operations, so setting one element does not rewrite
the array. Conversions go through real ctypes objects, so what a value accepts (and the errors it raises) is
what the standard library's would. Simple types (numbers and characters) and ``ctypes.Structure``/``Union``
types can be shared, not pointers; a structure's fields are attributes of the value (``v.x``), each written in
place.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from typing import Any

from lithops.multiprocessing.shared import SharedObject
from lithops.multiprocessing.synchronize import RLock

#: The ``array`` module's type codes and their ctypes.
TYPECODES: dict[str, type] = {
    "c": ctypes.c_char, "u": ctypes.c_wchar,
    "b": ctypes.c_byte, "B": ctypes.c_ubyte,
    "h": ctypes.c_short, "H": ctypes.c_ushort,
    "i": ctypes.c_int, "I": ctypes.c_uint,
    "l": ctypes.c_long, "L": ctypes.c_ulong,
    "q": ctypes.c_longlong, "Q": ctypes.c_ulonglong,
    "f": ctypes.c_float, "d": ctypes.c_double,
}


def ctype_of(typecode_or_type: Any) -> Any:
    """The ctypes type for a type code (``'i'``, ``'d'`` ...), a simple ctypes type (``ctypes.c_int``) or a
    ``ctypes.Structure``/``Union`` type.
    """
    ctype = TYPECODES.get(typecode_or_type, typecode_or_type) if isinstance(typecode_or_type, str) else (
        typecode_or_type
    )
    if isinstance(ctype, type) and issubclass(ctype, (ctypes.Structure, ctypes.Union)):
        return ctype
    simple = isinstance(ctype, type) and issubclass(ctype, ctypes._SimpleCData)
    if not simple or getattr(ctype, "_type_", "") in ("z", "Z", "P", "O"):
        raise TypeError(
            f"lithops.multiprocessing shares simple ctypes values (numbers and characters) and ctypes structures; "
            f"{typecode_or_type!r} is neither. Use a type code among {', '.join(TYPECODES)}, a type such as "
            f"ctypes.c_double, or a ctypes.Structure subclass."
        )
    return ctype


def _fields(ctype: Any) -> dict[str, Any]:
    """The fields of a structure type by name (empty for simple types)."""
    if not isinstance(ctype, type) or not issubclass(ctype, (ctypes.Structure, ctypes.Union)):
        return {}
    return {field[0]: getattr(ctype, field[0]) for field in getattr(ctype, "_fields_", ())}


def _plain(value: Any) -> Any:
    """What reading an element gives: the Python value of a simple ctypes object, else the object (a copy)."""
    return value.value if isinstance(value, ctypes._SimpleCData) else value


def _lock_for(lock: Any) -> Any:
    if lock is True or lock is None:
        return RLock()
    if not hasattr(lock, "acquire"):
        raise AttributeError(f"{lock!r} has no method 'acquire'")
    return lock


class _Synchronized:
    """The lock methods of ``Value``/``Array`` objects created with ``lock`` (the default)."""

    _lock: Any
    _snapshot: Callable[[], Any]  # from the shared value or array this is mixed into

    def get_obj(self) -> Any:
        """A ctypes copy of the current contents (the standard library returns the shared object itself)."""
        return self._snapshot()

    def get_lock(self) -> Any:
        """The lock that guards this object (an RLock unless one was passed)."""
        return self._lock

    def acquire(self, *args: Any) -> bool:
        """Acquire the lock."""
        return bool(self._lock.acquire(*args))

    def release(self) -> None:
        """Release the lock."""
        self._lock.release()

    def __enter__(self) -> bool:
        return bool(self._lock.acquire())

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()


class SharedValue(SharedObject):
    """One ctypes value in the store; ``.value`` reads and writes it. What :func:`RawValue` returns."""

    def __init__(self, ctype: Any, *args: Any) -> None:
        self._ctype = ctype
        initial = bytes(ctype(*args))
        self._attach("value")
        self._store.set(self._key, initial)

    def _snapshot(self) -> Any:
        """A ctypes copy of the current value."""
        return self._ctype.from_buffer_copy(self._store.get(self._key) or b"")

    @property
    def value(self) -> Any:
        """The current value (simple types; a structure's fields are attributes instead)."""
        return self._snapshot().value

    @value.setter
    def value(self, value: Any) -> None:
        self._store.set(self._key, bytes(self._ctype(value)))

    def __getattr__(self, name: str) -> Any:
        field = _fields(self.__dict__.get("_ctype")).get(name)
        if field is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self._snapshot(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        field = _fields(self.__dict__.get("_ctype")).get(name)
        if field is None:
            object.__setattr__(self, name, value)
            return
        ctype = self._ctype
        if field.size > ctypes.sizeof(ctype):  # a bit field (size holds bit numbers): rewrite the whole value
            whole = self._snapshot()
            setattr(whole, name, value)
            self._store.set(self._key, bytes(whole))
            return
        scratch = ctype()
        setattr(scratch, name, value)  # ctypes converts and checks the value
        self._store.setrange(self._key, field.offset, bytes(scratch)[field.offset:field.offset + field.size])

    def __repr__(self) -> str:
        if _fields(self._ctype):
            return f"<{self._ctype.__name__} {self._key}>"
        return f"{self._ctype.__name__}({self.value!r})"


class SynchronizedValue(_Synchronized, SharedValue):
    """A :class:`SharedValue` with a lock: what :func:`Value` returns."""

    def __init__(self, ctype: Any, *args: Any, lock: Any = True) -> None:
        self._lock = _lock_for(lock)
        super().__init__(ctype, *args)

    def __repr__(self) -> str:
        return f"<Synchronized wrapper for {SharedValue.__repr__(self)}>"


class SharedArray(SharedObject):
    """A fixed-length ctypes array in the store: indexing, slicing, ``len``, iteration; ``.value``/``.raw`` for
    character arrays. What :func:`RawArray` returns.
    """

    def __init__(self, ctype: Any, size_or_initializer: Any) -> None:
        if isinstance(size_or_initializer, int):
            initial = (ctype * size_or_initializer)()
        else:
            items = list(size_or_initializer)
            initial = (ctype * len(items))(*items)
        self._ctype = ctype
        self._length = len(initial)
        self._size = ctypes.sizeof(ctype)
        self._attach("array")
        self._store.set(self._key, bytes(initial))

    def _snapshot(self) -> Any:
        """A ctypes copy of the whole array."""
        raw = self._store.get(self._key) or b""
        return (self._ctype * self._length).from_buffer_copy(raw)

    def __len__(self) -> int:
        return self._length

    def _index(self, index: Any) -> int:
        import operator

        i = operator.index(index)
        if i < 0:
            i += self._length
        if not 0 <= i < self._length:
            raise IndexError("invalid index")
        return i

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._snapshot()[index]
        i = self._index(index)
        raw = self._store.getrange(self._key, i * self._size, (i + 1) * self._size - 1)
        return _plain(self._ctype.from_buffer_copy(raw))

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step == 1:
                count = max(0, stop - start)
                chunk = (self._ctype * count)()
                chunk[0:count] = value  # ctypes checks the length and the element types
                self._store.setrange(self._key, start * self._size, bytes(chunk))
            else:
                whole = self._snapshot()
                whole[index] = value
                self._store.set(self._key, bytes(whole))
            return
        i = self._index(index)
        one = (self._ctype * 1)()
        one[0] = value
        self._store.setrange(self._key, i * self._size, bytes(one))

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._snapshot()))

    @property
    def value(self) -> Any:
        """Character arrays: the contents up to the first NUL."""
        return self._snapshot().value

    @value.setter
    def value(self, value: Any) -> None:
        whole = self._snapshot()
        whole.value = value
        self._store.set(self._key, bytes(whole))

    @property
    def raw(self) -> bytes:
        """``c`` arrays: every byte."""
        return bytes(self._snapshot().raw)

    @raw.setter
    def raw(self, value: bytes) -> None:
        whole = self._snapshot()
        whole.raw = value
        self._store.set(self._key, bytes(whole))

    def __repr__(self) -> str:
        return f"<{self._ctype.__name__}_Array_{self._length} {list(self)!r}>"


class SynchronizedArray(_Synchronized, SharedArray):
    """A :class:`SharedArray` with a lock: what :func:`Array` returns."""

    def __init__(self, ctype: Any, size_or_initializer: Any, lock: Any = True) -> None:
        self._lock = _lock_for(lock)
        super().__init__(ctype, size_or_initializer)

    def __repr__(self) -> str:
        return f"<SynchronizedArray wrapper for {SharedArray.__repr__(self)}>"


def RawValue(typecode_or_type: Any, *args: Any) -> SharedValue:
    """A shared ctypes value without a lock."""
    return SharedValue(ctype_of(typecode_or_type), *args)


def RawArray(typecode_or_type: Any, size_or_initializer: Any) -> SharedArray:
    """A shared ctypes array without a lock."""
    return SharedArray(ctype_of(typecode_or_type), size_or_initializer)


def Value(typecode_or_type: Any, *args: Any, lock: Any = True, ctx: Any = None) -> Any:
    """A shared ctypes value; with ``lock`` (default) it has ``get_lock()`` and works as a context manager.

    ``.value`` reads and writes are each atomic; guard read-modify-write (``v.value += 1``) with the lock.
    """
    ctype = ctype_of(typecode_or_type)
    if lock is False:
        return SharedValue(ctype, *args)
    return SynchronizedValue(ctype, *args, lock=lock)


def Array(typecode_or_type: Any, size_or_initializer: Any, *, lock: Any = True, ctx: Any = None) -> Any:
    """A shared ctypes array of a size or initialized from a sequence; ``lock`` as for :func:`Value`."""
    ctype = ctype_of(typecode_or_type)
    if lock is False:
        return SharedArray(ctype, size_or_initializer)
    return SynchronizedArray(ctype, size_or_initializer, lock=lock)


def copy(obj: Any) -> Any:
    """A new lock-free shared object (as :func:`RawValue`/:func:`RawArray` make) holding a copy of ``obj``: a
    ctypes value, structure or array, or one of this module's shared objects.
    """
    if isinstance(obj, (SharedValue, SharedArray)):
        obj = obj._snapshot()
    if isinstance(obj, ctypes.Array):
        return SharedArray(ctype_of(obj._type_), list(obj))
    if isinstance(obj, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union)):
        new = SharedValue(ctype_of(type(obj)))
        new._store.set(new._key, bytes(obj))
        return new
    raise TypeError(f"sharedctypes.copy() takes a ctypes object or a shared Value/Array, not {type(obj).__name__}")
