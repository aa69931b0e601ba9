"""The HTTP worker entry point (lithops.worker.http_service) on a real loopback server: what a container platform's
request gets back. Running real payloads through it is covered end to end by the backends that use it.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.errors import BackendError
from lithops.worker.http_service import TOKEN_HEADER, handle_body, make_server

LIMIT = ("test request", "Raise test.runtime_timeout")


@pytest.fixture
def url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, lambda body: handle_body(body, limit=LIMIT), token="s3cret")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def post(url: str, body: bytes, token: str | None = "s3cret") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={TOKEN_HEADER: token} if token is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_metadata_names_the_runtimes_python(url: str) -> None:
    status, answer = post(url, json.dumps({"lithops_action": "metadata"}).encode())
    assert status == 200
    assert answer["python_version"] == CLIENT_PYTHON and answer["protocol"]


def test_a_body_that_is_not_a_payload_is_a_400(url: str) -> None:
    assert post(url, b"not json")[0] == 400
    assert post(url, b"[1, 2]")[0] == 400


def test_without_the_token_nothing_runs(url: str) -> None:
    status, answer = post(url, json.dumps({"lithops_action": "metadata"}).encode(), token="wrong")
    assert status == 401 and TOKEN_HEADER in answer["error"]
    assert post(url, b"{}", token=None)[0] == 401


def test_an_unusable_payload_is_a_500_with_the_reason(url: str) -> None:
    status, answer = post(url, json.dumps({"executor_id": "x"}).encode())
    assert status == 500 and "ProtocolMismatchError" in answer["error"]


def test_health_probe() -> None:
    server = make_server("127.0.0.1", 0, lambda body: (200, {}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/", timeout=10) as answer:
            assert answer.read() == b"ok"
    finally:
        server.shutdown()
        server.server_close()


def test_runtime_python_check_names_both_versions_and_the_fix() -> None:
    check_runtime_python(CLIENT_PYTHON, "the runtime 'r'", "rebuild it")
    with pytest.raises(BackendError, match=rf"runtime 'r' runs Python 2.7, but this client runs Python "
                                           rf"{CLIENT_PYTHON}.*To fix it, rebuild it\."):
        check_runtime_python("2.7", "the runtime 'r'", "rebuild it")
