"""A moto server (S3, IAM, STS, ECR, Lambda control plane, Batch, EC2) on 127.0.0.1, for tests and benchmarks.

Needs ``moto[server]`` (a test dependency, not one of lithops-aws). It runs in a thread of this process, or as a
``moto_server`` subprocess when ``subprocess=True`` (used with ``env`` for server settings read at start, such as
``INITIAL_NO_AUTH_ACTION_COUNT`` that turns credential checks on).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import SplitResult

from lithops.testing.processes import free_port, stop_process

__all__ = ["MotoServer", "forward", "free_port"]


def forward(moto: SplitResult, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request on to moto's server and return its ``(status, headers, body)``, with the headers that
    belong to one connection left out (for local services that sit in front of moto).

    Content-Length is left out too, as the caller sends the length of the body it sends, except in the answer to
    a HEAD: that has no body, and its Content-Length is the size of the object, to be sent on as it is.
    """
    conn = http.client.HTTPConnection(moto.hostname or "127.0.0.1", moto.port, timeout=60)
    try:
        sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
        conn.request(method, path, body=body or None, headers=sent)
        resp = conn.getresponse()
        data = resp.read()
        skip = {"transfer-encoding", "connection", "server", "date"} | (set() if method == "HEAD" else
                                                                       {"content-length"})
        out = {k: v for k, v in resp.getheaders() if k.lower() not in skip}
        return resp.status, out, data
    finally:
        conn.close()


def _request(url: str, method: str = "GET", body: Any = None, timeout: float = 10) -> int:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()
        return int(resp.status)


class MotoServer:
    """A moto server on 127.0.0.1 and a free port.

    Args:
        subprocess: run ``python -m moto.server`` in a child process instead of a thread of this one.
        env: extra environment of the child process.
    """

    def __init__(self, subprocess: bool = False, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._subprocess = subprocess
        self._env = env or {}
        self._thread_server: Any = None
        self._proc: Any = None

    def start(self, timeout: float = 30) -> MotoServer:
        """Start the server and wait until it answers."""
        if self._subprocess:
            env = {**os.environ, **self._env}
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        else:
            from moto.server import ThreadedMotoServer

            self._thread_server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._thread_server.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if _request(self.url + "/moto-api/", timeout=2) == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto server on {self.url} did not answer within {timeout} s")
            time.sleep(0.05)

    def reset(self) -> None:
        """Forget every resource (buckets, functions, roles, ...)."""
        _request(self.url + "/moto-api/reset", method="POST")

    def configure(self, settings: dict[str, Any]) -> None:
        """Change server-wide settings (``POST /moto-api/config``), e.g. ``{"lambda": {"use_docker": False}}``."""
        _request(self.url + "/moto-api/config", method="POST", body=settings)

    def stop(self) -> None:
        """Stop the server."""
        if self._thread_server is not None:
            self._thread_server.stop()
            self._thread_server = None
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
