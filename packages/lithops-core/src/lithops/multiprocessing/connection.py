"""``Pipe()``: two connection ends over two store lists (one per direction); ``wait``; and the standard library's
``Listener``, ``Client`` and ``families`` (sockets between processes that can reach each other, such as the
driver and its localhost workers; children inherit the parent's ``authkey`` to authenticate with).

End of file works as with file descriptors: each end counts its open handles in the store. Creating the pipe
opens one handle per end; sending an end to another process (a Process or task argument, a queue item) opens
one more, as the standard library duplicates the descriptor; ``close()``, garbage collection of a handle and
the end of a Process close one. When the last handle of an end is closed, its peer reads end of file (after the
messages sent before). So a child closing the end it does not use breaks nothing, and a parent closing its copy
of the child's end lets it see EOF once the child is done.
"""

from __future__ import annotations

import itertools
import multiprocessing.connection
import time
import weakref
from collections.abc import Iterable
from multiprocessing import AuthenticationError, BufferTooShort
from multiprocessing.connection import (  # type: ignore[attr-defined]
    Client,
    Listener,
    answer_challenge,
    deliver_challenge,
    families,
)
from typing import Any

from lithops.job.serialize import dumps, loads
from lithops.multiprocessing.shared import SharedObject

__all__ = ["AuthenticationError", "BufferTooShort", "Client", "Connection", "Listener", "Pipe", "answer_challenge",
           "deliver_challenge", "families", "wait"]

_DATA = b"d"
_EOF = b"e"


class _PipeKeys(SharedObject):
    """The two lists of a pipe and the open-handle counts of its ends; deleted when the creating process has
    dropped both ends.
    """

    def __init__(self) -> None:
        self._attach("pipe", (":1", ":2", ":open1", ":open2"))


#: Handles received from other processes, in arrival order (closed when the Process that got them ends).
_received: weakref.WeakValueDictionary[int, Connection] = weakref.WeakValueDictionary()
_arrivals = itertools.count(1)


def _close_handle(store: Any, counter: str, write_key: str | None) -> None:
    """Close one handle of an end: the last one signals end of file to the peer."""
    try:
        if store.incr(counter, -1) <= 0 and write_key is not None:
            store.rpush(write_key, _EOF)
    except Exception:  # the store is gone (the driver exited): so is the peer
        pass


def received_mark() -> int:
    """A mark to pass to :func:`close_received_since`."""
    return max(_received.keys(), default=0)


def close_process_handles(holder: Any, mark: int) -> None:
    """A Process ended: close the handles it was given (found in ``holder``'s attributes, as far as three
    containers deep) and those it received after ``mark``, as an exiting process's descriptors close.
    """
    def found(value: Any, depth: int) -> list[Connection]:
        if isinstance(value, Connection):
            return [value]
        if depth <= 0:
            return []
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple, set, frozenset)):
            return [h for item in value for h in found(item, depth - 1)]
        return []

    handles = found(dict(vars(holder)), 3)
    handles += [h for k, h in list(_received.items()) if k > mark]
    for handle in handles:
        handle.close()


class Connection:
    """One end of a :func:`Pipe`: ``send``/``recv`` pickled objects, ``send_bytes``/``recv_bytes``, ``poll``."""

    def __init__(self, keys: _PipeKeys, read_key: str | None, write_key: str | None, end: int) -> None:
        self._keys = keys
        self._read_key = read_key
        self._write_key = write_key
        self._end = end
        self._closed = False
        self._open_handle()

    def _open_handle(self) -> None:
        counter = f"{self._keys._key}:open{self._end}"
        self._finalizer = weakref.finalize(self, _close_handle, self._keys._store, counter, self._write_key)

    # -- pickling: each copy is one more open handle of this end ---------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        if self._closed:
            raise OSError("handle is closed")
        self._keys._store.incr(f"{self._keys._key}:open{self._end}", 1)  # the copy's handle, opened now
        state = dict(self.__dict__)
        state.pop("_closed", None)
        state.pop("_finalizer", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._closed = False
        self._open_handle()
        _received[next(_arrivals)] = self

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called on this handle."""
        return self._closed

    @property
    def readable(self) -> bool:
        """Whether this end can receive."""
        return self._read_key is not None

    @property
    def writable(self) -> bool:
        """Whether this end can send."""
        return self._write_key is not None

    def _check(self, reading: bool) -> str:
        if self._closed:
            raise OSError("handle is closed")
        key = self._read_key if reading else self._write_key
        if key is None:
            raise OSError("connection is write-only" if reading else "connection is read-only")
        return key

    # -- sending -------------------------------------------------------------------------------------------
    def send(self, obj: Any) -> None:
        """Send a picklable object to the other end."""
        key = self._check(reading=False)
        store = self._keys._store
        store.rpush(key, _DATA + store.seal(dumps(obj)))

    def send_bytes(self, buf: Any, offset: int = 0, size: int | None = None) -> None:
        """Send ``buf[offset:offset + size]`` (any bytes-like object) as one message."""
        key = self._check(reading=False)
        view = memoryview(buf).cast("B")
        if offset < 0:
            raise ValueError("offset is negative")
        if len(view) < offset:
            raise ValueError("buffer length < offset")
        if size is None:
            size = len(view) - offset
        elif size < 0:
            raise ValueError("size is negative")
        elif offset + size > len(view):
            raise ValueError("buffer length < offset + size")
        store = self._keys._store
        store.rpush(key, _DATA + store.seal(bytes(view[offset:offset + size])))

    # -- receiving -----------------------------------------------------------------------------------------
    def _recv_raw(self) -> bytes:
        key = self._check(reading=True)
        store = self._keys._store
        message = store.pop_wait(key, None)
        assert message is not None
        if message == _EOF:
            store.lpush(key, _EOF)  # stays: every later recv sees the end of file too
            raise EOFError
        return store.unseal(message[1:])

    def recv(self) -> Any:
        """Receive one object, waiting for it; EOFError when the other end was closed and nothing is left."""
        return loads(self._recv_raw())

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        """Receive one message as bytes; OSError if it is longer than ``maxlength``."""
        if maxlength is not None and maxlength < 0:
            raise ValueError("negative maxlength")
        data = self._recv_raw()
        if maxlength is not None and len(data) > maxlength:
            self.close()
            raise OSError("bad message length")
        return data

    def recv_bytes_into(self, buf: Any, offset: int = 0) -> int:
        """Receive one message into the writable buffer ``buf`` at ``offset``; return its length."""
        view = memoryview(buf).cast("B")
        if offset < 0 or offset > len(view):
            raise ValueError("offset out of bounds" if offset > len(view) else "negative offset")
        data = self._recv_raw()
        if len(data) > len(view) - offset:
            raise BufferTooShort(data)
        view[offset:offset + len(data)] = data
        return len(data)

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Whether a message (or end of file) is waiting; wait up to ``timeout`` seconds (None: for ever)."""
        key = self._check(reading=True)
        store = self._keys._store
        if timeout is not None and timeout <= 0:
            return store.llen(key) > 0
        message = store.pop_wait(key, timeout)
        if message is None:
            return False
        store.lpush(key, message)
        return True

    # -- closing -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close this handle; when it was the end's last open handle, the other end reads end of file."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()

    def fileno(self) -> int:
        """Not available: a store-backed connection has no file descriptor."""
        raise OSError(
            "lithops.multiprocessing connections are not backed by a file descriptor (they live in the store, "
            "which processes on other machines can reach too): wait for them with poll(timeout) or "
            "lithops.multiprocessing.connection.wait([...]), which also accepts Process sentinels."
        )

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ("r" if self.readable else "") + ("w" if self.writable else "")
        return f"<{type(self).__name__} {self._keys._key} {mode}{' closed' if self._closed else ''}>"


def Pipe(duplex: bool = True, conn_type: str | None = None) -> tuple[Connection, Connection]:
    """A pair of connected ends; with ``duplex=False`` the first only receives and the second only sends.

    ``conn_type`` is Lithops's (``redislist``, ``redispubsub``; default: the ``PIPE_CONNECTION_TYPE`` parameter);
    every type is carried by the store.
    """
    from lithops.multiprocessing import config as mp_config

    mp_config.check_pipe_connection_type(
        mp_config.get_parameter(mp_config.PIPE_CONNECTION_TYPE) if conn_type is None else conn_type
    )
    keys = _PipeKeys()
    one, two = keys._key + ":1", keys._key + ":2"
    for end in (1, 2):
        keys._store.incr(f"{keys._key}:open{end}", 1)
    if duplex:
        return Connection(keys, one, two, 1), Connection(keys, two, one, 2)
    return Connection(keys, one, None, 1), Connection(keys, None, one, 2)


#: Longest pause between two checks when :func:`wait` watches pipe connections together with other objects.
WAIT_STEP = 0.05


def wait(object_list: Iterable[Any], timeout: float | None = None) -> list[Any]:
    """The objects of ``object_list`` that are ready, waiting up to ``timeout`` seconds (None: for ever), as
    ``multiprocessing.connection.wait``: pipe connections of this module (a message or end of file waiting),
    Process sentinels, and anything the standard library's ``wait`` accepts (sockets, its connections, file
    descriptors).

    One pipe connection alone blocks in the store; several, or a mix with other objects, are checked in turn
    with pauses of at most :data:`WAIT_STEP` seconds.
    """
    objects = list(object_list)
    ours = [o for o in objects if isinstance(o, Connection)]
    others = [o for o in objects if not isinstance(o, Connection)]
    if not ours:
        return list(multiprocessing.connection.wait(others, timeout))
    if len(objects) == 1:
        return objects if ours[0].poll(timeout) else []
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.001
    while True:
        ready_others = set(multiprocessing.connection.wait(others, 0)) if others else set()
        ready = [o for o in objects if (o in ready_others if not isinstance(o, Connection) else o.poll(0))]
        remaining = None if deadline is None else deadline - time.monotonic()
        if ready or (remaining is not None and remaining <= 0):
            return ready
        time.sleep(pause if remaining is None else min(pause, remaining))
        pause = min(pause * 2, WAIT_STEP)
