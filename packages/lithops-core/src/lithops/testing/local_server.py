"""The life cycle of a local HTTP service of a test kit (a fake control plane, a storage service no emulator
exists for): serve on a free port in a daemon thread of this process, the URL, stop, and ``with`` blocks.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

from lithops.worker.http_service import BurstServer

S = TypeVar("S", bound="LocalServer")


class LocalServer:
    """A base whose :meth:`start` builds the request handler class and hands it to :meth:`serve`."""

    #: The address it listens on; set another (an instance attribute, before :meth:`start`) where clients outside
    #: this network namespace must reach it.
    host: str = "127.0.0.1"
    _server: BurstServer | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running service."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        """Serve ``handler`` on a free port of :attr:`host`, in a daemon thread named after the class."""
        self._server = BurstServer((self.host, 0), handler)
        threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True).start()

    def start(self) -> LocalServer:
        """Start serving (a subclass builds its handler and calls :meth:`serve`); return self."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self: S) -> S:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
