"""Invoking Cloud Run services and HTTPS-triggered functions: one POST per worker payload, with an identity token.

The request lasts as long as its calls run, so each is made in a thread of its own (at most ``max_workers`` at
once) and ``invoke`` returns once they are queued. Statuses travel through the job's storage; the answer only tells
about a payload that broke outside its calls (the calls are then reported failed at once). Requests the platform
refuses for lack of instances (429, 503) are retried with backoff.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from google.auth.credentials import Credentials

from lithops.backends.compute import StatusReporter
from lithops.backends.helpers import DaemonThreads, report_failed
from lithops.errors import BackendError
from lithops_gcp.auth import identity_token

logger = logging.getLogger(__name__)

#: Seconds an identity token is reused (Google's live one hour).
TOKEN_LIFETIME = 45 * 60
#: Statuses after which a request is tried again: no instance free yet, or the revision still starting.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class TokenCache:
    """Identity tokens per audience, minted once and reused for :data:`TOKEN_LIFETIME` seconds."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, audience: str) -> str:
        """A valid identity token for ``audience``."""
        with self._lock:
            found = self._tokens.get(audience)
            if found is not None and found[1] > time.monotonic():
                return found[0]
            token = identity_token(self.credentials, audience)
            self._tokens[audience] = (token, time.monotonic() + TOKEN_LIFETIME)
            return token


class HttpInvoker:
    """POSTs worker payloads to HTTPS endpoints of one platform.

    Args:
        what: the platform, for messages (``Cloud Run``).
        tokens: where identity tokens come from.
        max_in_flight: requests open at once.
        request_timeout: seconds a request may last (the platform's own timeout plus a margin).
        max_retries: retries of a request answered 429/5xx, with backoff and full jitter.
        keep_alive: connections kept open for the next requests (``invoke_pool_threads``).
    """

    BACKOFF_BASE, BACKOFF_CAP = 0.2, 10.0

    def __init__(self, what: str, tokens: TokenCache, max_in_flight: int, request_timeout: float,
                 max_retries: int = 8, keep_alive: int = 16) -> None:
        self.what = what
        self.tokens = tokens
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=keep_alive)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.threads = DaemonThreads(max_in_flight, name=f"lithops-{what.lower().replace(' ', '-')}")
        self.cancelled: set[str] = set()
        self.requests = 0
        self.closed = False

    def post(self, url: str, body: Mapping[str, Any], timeout: float | None = None) -> requests.Response:
        """POST ``body`` as JSON with an identity token, retrying 429/5xx answers; the last answer."""
        data = json.dumps(body).encode()
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self.tokens.get(url)}", "Content-Type": "application/json"}
            response = self.session.post(url, data=data, headers=headers, timeout=timeout or self.request_timeout)
            self.requests += 1
            if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                return response
            time.sleep(random.uniform(0, min(self.BACKOFF_CAP, self.BACKOFF_BASE * 2 ** attempt)))
            attempt += 1

    def submit(self, job_key: str, url: str, payload: Mapping[str, Any], report: StatusReporter,
               body: Mapping[str, Any] | None = None) -> None:
        """Send ``payload`` (or ``body`` standing for it) in a thread of its own; its calls are reported failed if
        the request is refused or the worker breaks outside them.
        """
        try:
            self.threads.submit(self._run, job_key, url, payload, report, body or payload)
        except RuntimeError as exc:
            raise BackendError(f"{self.what}: cannot start job {job_key}: {exc}") from exc

    def _run(self, job_key: str, url: str, payload: Mapping[str, Any], report: StatusReporter,
             body: Mapping[str, Any]) -> None:
        if job_key in self.cancelled:
            return
        try:
            response = self.post(url, body)
        except requests.exceptions.ConnectionError as exc:
            if isinstance(exc, requests.exceptions.ConnectTimeout) or "NewConnectionError" in repr(exc):
                report_failed(report, payload, BackendError(f"{self.what}: cannot reach {url}: {exc}"))
            else:  # the connection broke while the calls ran: their statuses (or their timeouts) tell
                # (after close() the client no longer waits for them: a service stopped meanwhile is no news)
                logger.log(logging.DEBUG if self.closed else logging.WARNING,
                           "%s: the request to %s broke while its calls ran: %s", self.what, url, exc)
            return
        except requests.exceptions.ReadTimeout:
            logger.warning("%s: no answer from %s within %.0f s", self.what, url, self.request_timeout)
            return
        except Exception as exc:  # a token could not be minted: nothing was sent
            report_failed(report, payload, exc)
            return
        if response.status_code == 200:
            return
        report_failed(report, payload, BackendError(
            f"{self.what} answered {response.status_code} to the invocation at {url}: {_error_text(response)}"
            f"{_advice(response.status_code)}"))

    def shutdown(self) -> None:
        """Stop taking new requests (those open go on)."""
        self.closed = True
        self.threads.shutdown()


def _advice(status: int) -> str:
    """What to do about an HTTP status an invocation got, as a sentence to append (or nothing)."""
    if status in (401, 403):
        return (". The caller's identity token was refused: grant the identity Lithops runs as roles/run.invoker on "
                "the service (docs/backends/gcp.md, set-up step 4)")
    return ""


def _error_text(response: requests.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason
    if isinstance(answer, dict) and "error" in answer:
        error = answer["error"]
        return str(error.get("message", error) if isinstance(error, dict) else error)
    return json.dumps(answer)[:500]


def wait_answering(post: Callable[[], requests.Response], what: str, timeout: float) -> dict[str, Any]:
    """The JSON answer of ``post()`` once it is 200, retrying 404/429/5xx answers and refused connections for up to
    ``timeout`` seconds (a new revision may answer 404 for a moment after it is ready).
    """
    end = time.monotonic() + timeout
    while True:
        problem: str
        try:
            response = post()
            if response.status_code == 200:
                return dict(response.json())
            problem = f"{response.status_code}: {_error_text(response)}"
            if response.status_code not in RETRY_STATUSES | {404}:
                raise BackendError(f"{what} answered {problem}{_advice(response.status_code)}")
        except requests.exceptions.ConnectionError as exc:
            problem = str(exc)
        if time.monotonic() > end:
            raise BackendError(f"{what} did not answer within {timeout:.0f} s (last: {problem})")
        time.sleep(0.5)
