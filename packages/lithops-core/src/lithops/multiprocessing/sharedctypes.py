"""``Value``/``Array`` (and the lock-free ``RawValue``/``RawArray``): ctypes data kept as raw bytes in the store.

A value is the bytes of one ctypes object at one key; element ``i`` of an array is ``sizeof(type)`` bytes at
offset ``i * sizeof(type)``, read and written with ranged operations, so setting one element does not rewrite
the array. Conversions go through real ctypes objects, so what a value accepts (and the errors it raises) is
what the standard library's would. Only simple types (numbers and characters) can be shared, not pointers.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
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
    """The ctypes type for a type code (``'i'``, ``'d'`` ...) or a simple ctypes type (``ctypes.c_int``)."""
    ctype = TYPECODES.get(typecode_or_type, typecode_or_type) if isinstance(typecode_or_type, str) else (
        typecode_or_type
    )
    simple = isinstance(ctype, type) and issubclass(ctype, ctypes._SimpleCData)
    if not simple or getattr(ctype, "_type_", "") in ("z", "Z", "P", "O"):
        raise TypeError(
            f"lithops.multiprocessing shares only simple ctypes values (numbers and characters); "
            f"{typecode_or_type!r} is not one. Use a type code among {', '.join(TYPECODES)} or a type such as "
            f"ctypes.c_double."
        )
    return ctype


def _lock_for(lock: Any) -> Any:
    if lock is True or lock is None:
        return RLock()
    if not hasattr(lock, "acquire"):
        raise AttributeError(f"{lock!r} has no method 'acquire'")
    return lock


class _Synchronized:
    """The lock methods of ``Value``/``Array`` objects created with ``lock`` (the default)."""

    _lock: Any

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

    def get_obj(self) -> Any:
        """A ctypes copy of the current value."""
        return self._ctype.from_buffer_copy(self._store.get(self._key) or b"")

    @property
    def value(self) -> Any:
        """The current value."""
        return self.get_obj().value

    @value.setter
    def value(self, value: Any) -> None:
        self._store.set(self._key, bytes(self._ctype(value)))

    def __repr__(self) -> str:
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

    def get_obj(self) -> Any:
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
            return self.get_obj()[index]
        i = self._index(index)
        raw = self._store.getrange(self._key, i * self._size, (i + 1) * self._size - 1)
        return self._ctype.from_buffer_copy(raw).value

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step == 1:
                count = max(0, stop - start)
                chunk = (self._ctype * count)()
                chunk[0:count] = value  # ctypes checks the length and the element types
                self._store.setrange(self._key, start * self._size, bytes(chunk))
            else:
                whole = self.get_obj()
                whole[index] = value
                self._store.set(self._key, bytes(whole))
            return
        i = self._index(index)
        one = (self._ctype * 1)()
        one[0] = value
        self._store.setrange(self._key, i * self._size, bytes(one))

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self.get_obj()))

    @property
    def value(self) -> Any:
        """Character arrays: the contents up to the first NUL."""
        return self.get_obj().value

    @value.setter
    def value(self, value: Any) -> None:
        whole = self.get_obj()
        whole.value = value
        self._store.set(self._key, bytes(whole))

    @property
    def raw(self) -> bytes:
        """``c`` arrays: every byte."""
        return bytes(self.get_obj().raw)

    @raw.setter
    def raw(self, value: bytes) -> None:
        whole = self.get_obj()
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
