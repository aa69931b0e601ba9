"""The zero-set-up store: a small server in the driver process, on 127.0.0.1, for workers on this machine.

The server keeps the data in a :class:`~lithops.multiprocessing.memory.MemoryStore` and serves each client
connection in its own thread, so a blocking pop occupies only its own connection. Connections are
``multiprocessing.connection`` sockets authenticated with a random key that only the driver and its workers
know (it travels in the store descriptor): the handshake runs in the connection's own thread, not in the thread
that accepts connections, and a client that has not completed it within :data:`HANDSHAKE_TIMEOUT` seconds is
disconnected, so an idle connection from anyone on the machine delays nobody. Nothing is unpickled before the
handshake succeeds. Inside the driver, the client is the memory store itself: no socket.
"""

from __future__ import annotations

import abc
import logging
import os
import socket
import threading
from multiprocessing.connection import Client, Connection, answer_challenge, deliver_challenge
from typing import Any

from lithops.multiprocessing.memory import MemoryStore
from lithops.multiprocessing.store import OPERATIONS, Store, StoreError, StoreUnavailableError

logger = logging.getLogger(__name__)

#: Exceptions a store operation may raise that clients get back with their own type.
_PASSED_ERRORS: dict[str, type[Exception]] = {e.__name__: e for e in (ValueError, TypeError, IndexError, KeyError)}
#: Seconds a new connection has to complete the authentication handshake before it is closed.
HANDSHAKE_TIMEOUT = 5.0


class LocalStoreServer:
    """A store server on ``host`` (a free port), serving until the process exits or :meth:`close`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.authkey = os.urandom(32)
        self._socket = socket.create_server((host, 0), backlog=128)
        address = self._socket.getsockname()
        self.address: tuple[str, int] = (str(address[0]), int(address[1]))
        self.memory = MemoryStore(self.descriptor())
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="lithops-mp-store", daemon=True)
        self._thread.start()

    def descriptor(self) -> dict[str, Any]:
        """How clients reach this server."""
        return {"kind": "local", "address": list(self.address), "authkey": self.authkey.hex()}

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._socket.accept()
            except OSError:
                if self._closed:
                    return
                continue
            threading.Thread(target=self._handshake, args=(sock,), name="lithops-mp-store-conn", daemon=True).start()

    def _handshake(self, sock: socket.socket) -> None:
        """Authenticate a new connection (both ways, as ``multiprocessing.connection.Listener`` does) within
        :data:`HANDSHAKE_TIMEOUT` seconds, then serve it.
        """
        conn = Connection(os.dup(sock.fileno()))
        lock = threading.Lock()
        finished = False

        def expire() -> None:
            with lock:
                if not finished:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)  # wakes the handshake's read with end of file
                    except OSError:
                        pass

        timer = threading.Timer(HANDSHAKE_TIMEOUT, expire)
        timer.daemon = True
        timer.start()
        try:
            deliver_challenge(conn, self.authkey)
            answer_challenge(conn, self.authkey)
            with lock:
                finished = True
            ok = True
        except Exception as exc:  # wrong key, garbage, or no answer in time
            logger.debug("lithops.multiprocessing store: refused a connection: %s", exc)
            ok = False
        finally:
            timer.cancel()
            sock.close()  # conn holds its own descriptor of the socket
        if not ok:
            conn.close()
            return
        self._serve(conn)

    def _serve(self, conn: Connection) -> None:
        memory = self.memory
        with conn:
            while True:
                try:
                    op, args = conn.recv()
                except (EOFError, OSError):
                    return
                result: Any = None
                try:
                    if op not in OPERATIONS:
                        raise StoreError(f"unknown store operation {op!r}")
                    if op == "blpop":
                        result = memory.blpop(args[0], args[1], abort=lambda: conn.poll(0))
                    else:
                        result = getattr(memory, op)(*args)
                    reply: tuple[Any, ...] = ("ok", result)
                except Exception as exc:
                    reply = ("error", type(exc).__name__, str(exc))
                try:
                    conn.send(reply)
                except OSError:  # the client went away: an element popped for it goes back to the front
                    if op in ("blpop", "lpop") and result is not None:
                        memory.lpush(args[0], result)
                    return

    def close(self) -> None:
        """Stop accepting connections (open ones end when their clients disconnect)."""
        self._closed = True
        try:
            self._socket.close()
        except OSError:
            pass


class LocalStoreClient(Store):
    """Client of a :class:`LocalStoreServer` in another process: one connection per thread."""

    kind = "local"

    def __init__(self, descriptor: dict[str, Any]) -> None:
        super().__init__(descriptor)
        self._address = (str(descriptor["address"][0]), int(descriptor["address"][1]))
        self._authkey = bytes.fromhex(descriptor["authkey"])
        self._local = threading.local()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) != os.getpid():
            conn = None  # inherited through a fork: the parent owns that socket
        if conn is None:
            try:
                conn = Client(self._address, family="AF_INET", authkey=self._authkey)
            except OSError as exc:
                raise StoreUnavailableError(
                    f"the lithops.multiprocessing store at {self._address[0]}:{self._address[1]} is not reachable "
                    f"({exc}). It runs inside the driver process: the driver has exited, or this process runs on "
                    f"another machine (configure a 'redis' section for remote workers)."
                ) from exc
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _call(self, op: str, *args: Any) -> Any:
        conn = self._connection()
        try:
            conn.send((op, args))
            reply = conn.recv()
        except BaseException as exc:  # the connection is out of step now (interrupted, or the server is gone)
            self._local.conn = None
            conn.close()
            if isinstance(exc, (EOFError, OSError)):
                raise StoreUnavailableError(
                    f"lost the connection to the lithops.multiprocessing store at "
                    f"{self._address[0]}:{self._address[1]} during {op}: the driver process has probably exited."
                ) from exc
            raise
        if reply[0] == "ok":
            return reply[1]
        error = _PASSED_ERRORS.get(reply[1], StoreError)
        raise error(reply[2])

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()


def _forwarder(op: str) -> Any:
    def forward(self: LocalStoreClient, *args: Any) -> Any:
        return self._call(op, *args)

    forward.__name__ = op
    forward.__doc__ = getattr(Store, op).__doc__
    return forward


for _op in OPERATIONS:
    setattr(LocalStoreClient, _op, _forwarder(_op))
# the operations, set just above, are no longer abstract (mypy does not see setattr: hence the ignores)
abc.update_abstractmethods(LocalStoreClient)  # type: ignore[type-abstract]

_server: LocalStoreServer | None = None
_server_pid = 0
_server_lock = threading.Lock()


def local_server() -> LocalStoreServer:
    """The store server of this process, started on first use."""
    global _server, _server_pid
    with _server_lock:
        if _server is None or _server_pid != os.getpid():
            _server, _server_pid = LocalStoreServer(), os.getpid()
        return _server


def open_local_store(descriptor: dict[str, Any]) -> Store:
    """A client for a local store: its memory store when the server runs in this process, else a socket client."""
    server = _server
    if server is not None and _server_pid == os.getpid() and list(descriptor.get("address", ())) == list(
        server.address
    ) and descriptor.get("authkey") == server.authkey.hex():
        return server.memory
    return LocalStoreClient(descriptor)  # type: ignore[abstract]
