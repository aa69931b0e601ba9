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
