"""``metadata_command``: the shell command a VM runs to read its id (or a token) from its cloud's metadata service,
with the runtime's Python (the bootstrap's shell function ``py``), run here against a metadata service on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from lithops.standalone.provider import MetadataRequest, metadata_command
from lithops.testing.http_fake import QuietHandler


@pytest.fixture
def metadata() -> Iterator[str]:
    """A metadata service: a session token for a PUT with a body, and the instance (JSON) or its name (text) for
    requests that carry that token or the flavor header."""

    class Handler(QuietHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/token" or body != b"{}" or self.headers.get("Metadata-Flavor") != "x":
                return self.send_whole(400, b"", {})
            self.send_whole(200, json.dumps({"access_token": "tok'en"}).encode(), {})

        def do_GET(self) -> None:
            if self.path == "/instance" and self.headers.get("Authorization") == "Bearer tok'en":
                return self.send_whole(200, json.dumps({"id": "vm-7"}).encode(), {})
            if self.path == "/name?format=text" and self.headers.get("Metadata-Flavor") == "x":
                return self.send_whole(200, b"vm-name", {})
            self.send_whole(401, b"", {})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run(command: str) -> subprocess.CompletedProcess[str]:
    script = f'py() {{ "{sys.executable}" "$@"; }}\n{command}\n'
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)


def test_a_plain_answer_with_the_required_header(metadata: str) -> None:
    done = _run(metadata_command(MetadataRequest(f"{metadata}/name?format=text", {"Metadata-Flavor": "x"})))
    assert (done.returncode, done.stdout) == (0, "vm-name\n")


def test_a_json_answer_read_with_a_session_token_first(metadata: str) -> None:
    token = MetadataRequest(f"{metadata}/token", {"Metadata-Flavor": "x"}, method="PUT", data="{}",
                            json_key="access_token")
    done = _run(metadata_command(MetadataRequest(f"{metadata}/instance", json_key="id"), token=token,
                                 token_header=("Authorization", "Bearer {}")))
    assert (done.returncode, done.stdout) == (0, "vm-7\n")


def test_a_prefix_and_a_refusal_that_fails_the_command(metadata: str) -> None:
    token = MetadataRequest(f"{metadata}/token", {"Metadata-Flavor": "x"}, method="PUT", data="{}",
                            json_key="access_token")
    assert _run(metadata_command(token, prefix="Bearer ")).stdout == "Bearer tok'en\n"
    refused = _run(metadata_command(MetadataRequest(f"{metadata}/name?format=text")))
    assert refused.returncode != 0 and "401" in refused.stderr
