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


def test_concurrent_requests_never_fork_inside_an_import(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests run in threads and each forks a child. A fork while another thread is inside an import leaves that
    module's lock held for ever in the child, which then hangs on the same import until the platform's deadline.
    Here the storage module takes a while to import and fails: every request must still answer at once.
    """
    (tmp_path / "slow_failing_storage.py").write_text("import time\ntime.sleep(0.3)\nraise ImportError('broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    server = make_server("127.0.0.1", 0, lambda body: handle_body(body, limit=LIMIT))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    payload = {"protocol": 1, "executor_id": "x-0", "job_id": "M000", "call_ids": ["00000"],
               "storage_backend": "slow_failing_storage:Storage", "config": {"lithops": {"storage": "slow"}}}
    answers: list[tuple[int, Any]] = []

    def one() -> None:
        answers.append(post(url, json.dumps(payload).encode(), token=None))

    try:
        threads = [threading.Thread(target=one) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        server.shutdown()
        server.server_close()
    assert len(answers) == 6, f"{6 - len(answers)} of 6 concurrent requests got no answer within 30 s"
    assert all(status == 500 and "broken" in answer["error"] for status, answer in answers), answers
