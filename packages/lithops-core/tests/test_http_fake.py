"""The fake control-plane base of the testing kit: routing, errors in the cloud's shape, the request log."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, FakeService


class Things(FakeService):
    def __init__(self) -> None:
        super().__init__()
        self.things: dict[str, Any] = {}
        self.route("POST", r"/v1/things", self.create)
        self.route("GET", r"/v1/things/(?P<name>[a-z]+)", self.get)

    def create(self, request: FakeRequest) -> FakeResponse:
        body = request.json()
        if "name" not in body:
            raise ApiError(400, "INVALID_ARGUMENT", "name is required")
        self.things[body["name"]] = body
        return 200, body

    def get(self, request: FakeRequest) -> FakeResponse:
        name = request.params["name"]
        if name not in self.things:
            raise ApiError(404, "NOT_FOUND", f"thing {name} not found")
        return 200, self.things[name], {"X-Thing": name}


def call(url: str, method: str, body: Any = None) -> tuple[int, Any, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), answer.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


def test_routes_errors_and_log() -> None:
    with Things() as api:
        assert call(f"{api.url}/v1/things", "POST", {"name": "a"})[0] == 200
        status, body, headers = call(f"{api.url}/v1/things/a", "GET")
        assert status == 200 and body == {"name": "a"} and headers["X-Thing"] == "a"
        status, body, _ = call(f"{api.url}/v1/things", "POST", {})
        assert status == 400 and body["error"]["message"] == "name is required"
        assert call(f"{api.url}/v1/things", "POST", b"{not json")[0] == 400
        assert call(f"{api.url}/v1/things/b", "GET")[0] == 404
        assert call(f"{api.url}/v1/things/a", "DELETE")[0] == 405
        assert call(f"{api.url}/v2/other", "GET")[0] == 404
        assert api.requests[:2] == [("POST", "/v1/things"), ("GET", "/v1/things/a")]


def test_kept_alive_connections_answer_without_delayed_ack_waits() -> None:
    """SDK clients keep their connection open: an answer (headers, then body) must not wait for the client's
    delayed ACK (40 ms or more on Linux) before its body leaves, or every API call of a test costs that much."""
    import http.client
    import statistics
    import time
    from urllib.parse import urlsplit

    with Things() as service:
        service.things["a"] = {"name": "a"}  # type: ignore[attr-defined]
        url = urlsplit(service.url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
        times = []
        for _ in range(15):
            start = time.perf_counter()
            conn.request("GET", "/v1/things/a")
            assert conn.getresponse().read()
            times.append(time.perf_counter() - start)
        conn.close()
    assert statistics.median(times[1:]) < 0.03, f"median {statistics.median(times[1:]) * 1000:.0f} ms per request"


def test_listens_on_another_address_when_told() -> None:
    """Clients in other network namespaces (hosts playing VMs) reach a fake on the bridge's address, not loopback."""
    api = Things()
    api.host = "127.0.0.2"
    with api:
        assert api.url.startswith("http://127.0.0.2:")
        assert call(f"{api.url}/v1/things", "POST", {"name": "a"})[0] == 200
        port = api.url.rsplit(":", 1)[1]
        try:
            call(f"http://127.0.0.1:{port}/v1/things/a", "GET")
        except urllib.error.URLError:
            pass
        else:
            raise AssertionError("the fake also answered on 127.0.0.1")
