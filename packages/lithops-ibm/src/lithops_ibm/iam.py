"""IAM API keys and bearer tokens, through ibm-cloud-sdk-core's ``IAMAuthenticator``.

One authenticator (so one token, refreshed by the SDK before it expires) is shared by every backend of a process
that uses the same API key and IAM endpoint. Failures become Lithops errors that say what to fix.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from lithops.errors import BackendError, ConfigError
from lithops_ibm.plugin import DEFAULT_IAM_ENDPOINT

T = TypeVar("T")

_lock = threading.Lock()
_authenticators: dict[tuple[str, str], Any] = {}


class IBMCredentialsError(ConfigError):
    """IAM refused the API key (invalid, revoked or deleted)."""


class IBMConnectionError(BackendError):
    """An IBM Cloud endpoint could not be reached."""


def iam_endpoint(section: Mapping[str, Any]) -> str:
    """The IAM token service URL of a section: ``iam_endpoint``, else IAM's public one."""
    return str(section.get("iam_endpoint") or DEFAULT_IAM_ENDPOINT).rstrip("/")


def authenticator(api_key: str, url: str) -> Any:
    """The process's ``IAMAuthenticator`` for this API key and IAM token service URL."""
    from ibm_cloud_sdk_core.authenticators import IAMAuthenticator

    with _lock:
        found = _authenticators.get((api_key, url))
        if found is None:
            found = _authenticators[(api_key, url)] = IAMAuthenticator(api_key, url=url)
        return found


def describe(exc: BaseException) -> str:
    """The service's own message of an SDK failure (status, code and text where it has them)."""
    from ibm_cloud_sdk_core import ApiException

    if isinstance(exc, ApiException):
        body: Any = None
        try:
            body = exc.http_response.json() if exc.http_response is not None else None
        except ValueError:
            pass
        code = ""
        if isinstance(body, dict):
            code = str(body.get("errorCode") or (body.get("errors") or [{}])[0].get("code") or "")
        return f"{exc.status_code}{' ' + code if code else ''}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def translate(exc: BaseException, what: str, url: str) -> BaseException:
    """A Lithops error for a failed IAM or IBM Cloud API request (``what`` names it), or ``exc`` itself."""
    import requests
    from ibm_cloud_sdk_core import ApiException

    if isinstance(exc, requests.exceptions.ConnectionError):
        target = str(getattr(exc.request, "url", None) or url)
        if "/identity/token" in target:  # the IAM token request, made inside the service's request
            return IBMConnectionError(f"{what}: could not connect to IAM at {target}. Check ibm.iam_endpoint and "
                                      f"the network.")
        return IBMConnectionError(f"{what}: could not connect to {url} ({type(exc).__name__}). Check the "
                                  f"endpoint and region in the config and the network.")
    if isinstance(exc, requests.exceptions.Timeout):
        return IBMConnectionError(f"{what}: {url} did not answer in time. Check the endpoint and the network.")
    if isinstance(exc, ApiException):
        if exc.status_code in (400, 401) and "identity/token" in str(getattr(exc.http_response, "url", "")):
            return IBMCredentialsError(
                f"{what}: IAM refused the API key ({describe(exc)}). The key is invalid, revoked or deleted: "
                f"create one (IBM Cloud console > Manage > Access (IAM) > API keys) and set it as ibm.iam_api_key."
            )
        return BackendError(f"{what} failed: {describe(exc)}")
    return exc


@contextmanager
def ibm_errors(what: str, url: str) -> Iterator[None]:
    """Re-raise SDK failures inside the block as the Lithops errors of :func:`translate`."""
    try:
        yield
    except Exception as exc:
        new = translate(exc, what, url)
        if new is exc:
            raise
        raise new from exc


def bearer_token(auth: Any) -> str:
    """A valid token of ``auth`` (fetched, or refreshed by the SDK when most of its life has passed)."""
    request: dict[str, Any] = {"headers": {}}
    auth.authenticate(request)
    header: str = request["headers"]["Authorization"]
    return header.split(" ", 1)[1]


def call(what: str, url: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with its SDK failures turned into Lithops errors."""
    with ibm_errors(what, url):
        return fn(*args, **kwargs)
