"""A local IBM Cloud IAM token service: ``POST /identity/token`` exchanges an API key for a JWT bearer token.

It answers as IAM does (form-encoded request with ``grant_type=urn:ibm:params:oauth:grant-type:apikey``, JSON with
``access_token``, ``expires_in``, ``expiration``; errors with ``errorCode``/``errorMessage``), issues tokens of a
chosen lifetime so refreshing can be tested in seconds, and tells other fakes whether a token is valid now.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import jwt

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, FakeService

GRANT_TYPE = "urn:ibm:params:oauth:grant-type:apikey"
_SECRET = "local-iam-signing-key-of-the-test-stand-in"


class FakeIAM(FakeService):
    """IAM's token service for the API keys in ``api_keys``, issuing tokens that live ``token_lifetime`` seconds.

    ``issued`` lists every token handed out; ``revoke(key)`` makes a key invalid, as deleting it in IBM Cloud does.
    """

    def __init__(self, api_keys: set[str], token_lifetime: float = 3600) -> None:
        super().__init__()
        self.api_keys = set(api_keys)
        self.token_lifetime = token_lifetime
        self.issued: list[str] = []
        self.route("POST", r"/identity/token", self.token)

    def error_body(self, status: int, code: str, message: str) -> Any:
        """IAM's error JSON."""
        return {"errorCode": code, "errorMessage": message, "context": {"requestId": uuid.uuid4().hex}}

    def token(self, request: FakeRequest) -> FakeResponse:
        """Exchange an API key for a bearer token."""
        if not request.header("content-type").startswith("application/x-www-form-urlencoded"):
            raise ApiError(400, "BXNIM0109E", "Content-Type must be application/x-www-form-urlencoded")
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != GRANT_TYPE:
            raise ApiError(400, "BXNIM0103E", f"Unsupported grant type {form.get('grant_type')!r}")
        key = form.get("apikey")
        if not key:
            raise ApiError(400, "BXNIM0102E", "Parameter 'apikey' is missing")
        if key not in self.api_keys:
            raise ApiError(400, "BXNIM0415E", "Provided API key could not be found.")
        return 200, self.issue(f"iam-{key[:6]}")

    def issue(self, iam_id: str) -> dict[str, Any]:
        """A new token for the identity ``iam_id`` in IAM's answer shape (also what a VPC instance's metadata
        service hands out for its trusted profile).
        """
        now = time.time()
        expires = now + self.token_lifetime
        token = jwt.encode({"iam_id": iam_id, "iat": int(now), "exp": int(expires),
                            "exp_precise": expires, "jti": uuid.uuid4().hex}, _SECRET, algorithm="HS256")
        with self.lock:
            self.issued.append(token)
        return {"access_token": token, "refresh_token": "not-supported", "token_type": "Bearer",
                "expires_in": int(self.token_lifetime), "expiration": int(expires), "scope": "ibm openid"}

    def revoke(self, api_key: str) -> None:
        """Make ``api_key`` unknown from now on."""
        self.api_keys.discard(api_key)

    def check(self, authorization: str) -> str | None:
        """Why the ``Authorization`` header is refused now (no bearer token, not ours, expired), or None."""
        if not authorization.startswith("Bearer "):
            return "no IAM bearer token"
        try:
            claims = jwt.decode(authorization[7:], _SECRET, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.InvalidTokenError:
            return "the token was not issued by IAM"
        if time.time() >= float(claims["exp_precise"]):
            return "the IAM token has expired"
        return None
