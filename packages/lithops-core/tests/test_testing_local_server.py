"""lithops.testing.local_server.LocalServer: serve a handler on loopback, answer, stop and free the port."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from lithops.testing.http_fake import QuietHandler
from lithops.testing.local_server import LocalServer


class Hello(LocalServer):
    def start(self) -> Hello:
        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.send_whole(200, b"hello", {"Content-Type": "text/plain"})

        self.serve(Handler)
        return self


def test_a_started_server_answers_and_a_stopped_one_frees_its_port() -> None:
    server = Hello()
    with pytest.raises(RuntimeError, match="Hello is not started"):
        _ = server.url
    with server:
        url = server.url
        with urllib.request.urlopen(url + "/", timeout=10) as answer:
            assert answer.read() == b"hello"
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError):
        _ = server.url
    with socket.socket() as s:  # the listening socket is closed (its connection may linger in TIME_WAIT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
    server.stop()  # twice is fine
