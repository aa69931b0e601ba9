"""boto3 sessions and clients made from a config section, and AWS errors turned into Lithops errors.

Credentials come from the section (``access_key_id``/``secret_access_key``/``session_token``, usually inherited
from the shared ``aws`` section), else from the named ``config_profile``, else from boto3's default chain:
environment variables, ``~/.aws/credentials`` and ``~/.aws/config``, container and instance roles.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config

from lithops.errors import BackendError, ConfigError

DEFAULT_REGION = "us-east-1"
T = TypeVar("T")

#: Error codes AWS answers with when the credentials are wrong, expired or missing rights to sign.
CREDENTIAL_ERROR_CODES = frozenset({
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "UnrecognizedClientException",
    "ExpiredToken", "ExpiredTokenException", "AuthFailure", "InvalidToken", "TokenRefreshRequired",
    "MissingAuthenticationToken", "IncompleteSignature",
})


class AWSCredentialsError(ConfigError):
    """No usable AWS credentials: none found, incomplete, wrong or expired."""


class AWSConnectionError(BackendError):
    """An AWS (or S3-compatible) endpoint could not be reached."""


class AWSAccessDeniedError(BackendError):
    """The credentials are valid but lack a permission the operation needs."""


_HOW_TO_FIX = (
    "Give boto3 credentials in any of its usual ways: the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment "
    "variables, ~/.aws/credentials (aws configure), a profile (AWS_PROFILE or aws.config_profile), an instance or "
    "container role; or set aws.access_key_id and aws.secret_access_key in the Lithops config."
)

_sessions: dict[tuple[Any, ...], boto3.Session] = {}
_lock = threading.Lock()


#: Environment variables boto3's default chain reads: a change of any of them means another session.
_CHAIN_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
              "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION", "AWS_DEFAULT_REGION")


def _session_key(config: Mapping[str, Any]) -> tuple[Any, ...]:
    return (config.get("access_key_id"), config.get("secret_access_key"), config.get("session_token"),
            config.get("config_profile"), config.get("region"), tuple(os.environ.get(v) for v in _CHAIN_ENV))


def make_session(config: Mapping[str, Any]) -> boto3.Session:
    """A boto3 session for a config section (cached per credentials and region; sessions are not thread-safe to
    create, clients made from them are).

    Raises:
        AWSCredentialsError: only one of the key pair is set, or the profile does not exist.
    """
    key_id, secret = config.get("access_key_id"), config.get("secret_access_key")
    if bool(key_id) != bool(secret):
        missing = "secret_access_key" if key_id else "access_key_id"
        raise AWSCredentialsError(
            f"aws.{missing} is not set but its pair is: set both access_key_id and secret_access_key, or neither "
            f"to use boto3's credential chain."
        )
    key = _session_key(config)
    with _lock:
        session = _sessions.get(key)
        if session is None:
            try:
                session = boto3.Session(
                    aws_access_key_id=key_id or None,
                    aws_secret_access_key=secret or None,
                    aws_session_token=config.get("session_token") or None,
                    profile_name=config.get("config_profile") or None,
                    region_name=config.get("region") or None,
                )
            except botocore.exceptions.ProfileNotFound as exc:
                raise AWSCredentialsError(
                    f"{exc}. Fix aws.config_profile (or AWS_PROFILE) to name a profile of ~/.aws/config."
                ) from None
            _sessions[key] = session
        return session


def region_of(config: Mapping[str, Any]) -> str:
    """The region a config section resolves to (its ``region``, else boto3's, else us-east-1)."""
    return str(config.get("region") or make_session(config).region_name or DEFAULT_REGION)


def make_client(
    config: Mapping[str, Any],
    service: str,
    endpoint: str | None = None,
    max_attempts: int | None = None,
    **botocore_config: Any,
) -> Any:
    """A boto3 client of ``service`` for the section's credentials, region and endpoint.

    Args:
        config: the backend's config section.
        service: boto3 service name (``s3``, ``lambda``, ...).
        endpoint: endpoint URL; None lets boto3 choose (including ``AWS_ENDPOINT_URL_<SERVICE>``).
        max_attempts: total attempts of boto3's standard retry mode (1: no retries).
        **botocore_config: further ``botocore.config.Config`` arguments.
    """
    session = make_session(config)
    retries: dict[str, Any] = {"mode": "standard"}
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    cfg = Config(retries=retries, **botocore_config)  # type: ignore[arg-type]
    return session.client(service, region_name=region_of(config), endpoint_url=endpoint or None, config=cfg)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for other exceptions)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def http_status(exc: BaseException) -> int:
    """The HTTP status of a botocore ClientError (0 for other exceptions)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return 0


def translate(exc: BaseException, what: str, endpoint: str | None = None) -> BaseException:
    """The Lithops error for a boto3 failure of ``what``, or ``exc`` itself when it is nothing general.

    Credential problems become :class:`AWSCredentialsError`, unreachable endpoints :class:`AWSConnectionError`,
    missing permissions :class:`AWSAccessDeniedError`; each message says what to do.
    """
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return AWSCredentialsError(f"{what}: no AWS credentials found ({exc}). {_HOW_TO_FIX}")
    if isinstance(exc, botocore.exceptions.CredentialRetrievalError):
        return AWSCredentialsError(f"{what}: could not get AWS credentials ({exc}). {_HOW_TO_FIX}")
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
                        botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError)):
        where = endpoint or getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        return AWSConnectionError(
            f"{what}: cannot reach {where} ({exc}). Check the network, the region, and the endpoint key of the "
            f"config section (or AWS_ENDPOINT_URL_* variables) if you use an S3-compatible store or emulator."
        )
    code = error_code(exc)
    if code in CREDENTIAL_ERROR_CODES:
        message = exc.response.get("Error", {}).get("Message", "")  # type: ignore[attr-defined]
        return AWSCredentialsError(
            f"{what}: AWS rejected the credentials ({code}: {message}). Check that the access key id and secret "
            f"belong together and are active, and that a session token is set and fresh for temporary "
            f"credentials. {_HOW_TO_FIX}"
        )
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden") or (
        code == "403"
    ):
        message = exc.response.get("Error", {}).get("Message", "")  # type: ignore[attr-defined]
        return AWSAccessDeniedError(
            f"{what}: access denied ({code}: {message}). Grant the IAM permissions listed in the lithops-aws "
            f"documentation (docs/backends/aws.md) to the identity you use."
        )
    return exc


@contextmanager
def aws_errors(what: str, endpoint: str | None = None) -> Iterator[None]:
    """Re-raise general boto3 failures inside the block as Lithops errors (see :func:`translate`)."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        new = translate(exc, what, endpoint)
        if new is exc:
            raise
        raise new from exc


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` translating general boto3 failures (see :func:`aws_errors`)."""
    with aws_errors(what):
        return fn(*args, **kwargs)
