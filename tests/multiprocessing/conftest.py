"""Fixtures of the lithops.multiprocessing tests: a real redis-server, and a ``store`` parameter that runs each
test once with the zero-set-up local store and once with Redis.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lithops.multiprocessing import config as mp_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Set to 1 to skip the Redis store tests when redis-server cannot be installed; without it they fail the run.
WITHOUT_REDIS_ENV = "LITHOPS_TESTS_WITHOUT_REDIS"


def _required(problem: str) -> None:
    """Fail (or, when explicitly opted out, skip) a test that needs what is missing."""
    if os.environ.get(WITHOUT_REDIS_ENV) == "1":
        pytest.skip(f"{problem}; skipped because {WITHOUT_REDIS_ENV}=1")
    pytest.fail(f"{problem}, or set {WITHOUT_REDIS_ENV}=1 to skip the Redis store tests.", pytrace=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A redis-server of our own on a free port (no persistence), stopped by its PID at the end."""
    exe = shutil.which("redis-server")
    if exe is None:
        _required("redis-server is not installed, so the Redis store cannot be tested. Install it "
                  "(sudo apt-get install redis-server; macOS: brew install redis)")
    try:
        import redis
    except ImportError:
        _required("the redis client is not installed, so the Redis store cannot be tested. Install it "
                  "(pip install 'lithops-core[multiprocessing]')")
    port = _free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"redis-server did not start on port {port} (exit code {proc.poll()})") from None
            time.sleep(0.05)
    client.close()
    try:
        yield {"host": "127.0.0.1", "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def _reset_mp_config() -> Iterator[None]:
    """Every test starts from the default lithops.multiprocessing parameters."""
    mp_config.reset()
    yield
    mp_config.reset()


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest) -> str:
    """Run the test with the local store (no config), then with Redis (a ``redis`` section)."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {"redis": dict(server)})
    return str(request.param)
