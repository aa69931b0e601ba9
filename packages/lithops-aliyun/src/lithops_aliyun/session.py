"""Credentials, regions and clients of the Alibaba Cloud SDKs, and their errors as Lithops errors.

Keys given in the config (``aliyun`` section or the backend's own) are used as they are; otherwise the SDKs'
credential chain (``alibabacloud_credentials``'s default provider: ``ALIBABA_CLOUD_ACCESS_KEY_ID`` and
``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` with ``ALIBABA_CLOUD_SECURITY_TOKEN``, ``~/.alibabacloud/credentials``, an
ECS RAM role, OIDC). Inside Function Compute, the function's role credentials are in those variables.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from lithops.errors import BackendError, ConfigError

#: Environment variables Alibaba's SDKs read.
ENV_KEY_ID, ENV_KEY_SECRET, ENV_TOKEN = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN")
ENV_REGION = "ALIBABA_CLOUD_REGION_ID"


def region_of(section: Mapping[str, Any], owner: str) -> str:
    """The section's region, else ``ALIBABA_CLOUD_REGION_ID`` (inside FC, ``FC_REGION``); a clear error without."""
    region = section.get("region") or os.environ.get(ENV_REGION) or os.environ.get("FC_REGION")
    if not region:
        raise ConfigError(f"{owner}: no region. Set 'region' in the aliyun section (e.g. cn-hangzhou), or "
                          f"{ENV_REGION}.")
    return str(region)


def static_keys(section: Mapping[str, Any]) -> tuple[str, str, str | None] | None:
    """``(id, secret, token)`` from the section, or None to use the credential chain."""
    key_id, secret = section.get("access_key_id"), section.get("access_key_secret")
    if bool(key_id) != bool(secret):
        raise ConfigError("aliyun: set both access_key_id and access_key_secret, or neither (to use the "
                          "credential chain of Alibaba's SDKs)")
    if not key_id:
        return None
    return str(key_id), str(secret), section.get("security_token") or None


def credential_client(section: Mapping[str, Any]) -> Any:
    """An ``alibabacloud_credentials`` client: the section's keys, or the default chain."""
    from alibabacloud_credentials.client import Client
    from alibabacloud_credentials.models import Config

    keys = static_keys(section)
    if keys is None:
        return Client()
    key_id, secret, token = keys
    if token:
        return Client(Config(type="sts", access_key_id=key_id, access_key_secret=secret, security_token=token))
    return Client(Config(type="access_key", access_key_id=key_id, access_key_secret=secret))


def no_credentials(detail: object) -> ConfigError:
    """The error when neither the config nor the credential chain gives keys: where to put them."""
    return ConfigError(
        f"aliyun: no credentials ({str(detail).strip().splitlines()[0][:300]}). Set access_key_id and "
        f"access_key_secret in the aliyun section, or {ENV_KEY_ID} and {ENV_KEY_SECRET}, or configure "
        f"~/.alibabacloud/credentials."
    )


def is_credentials_problem(exc: BaseException) -> bool:
    """Whether an SDK error means that no credentials could be found (not that the service refused them)."""
    seen: BaseException | None = exc
    while seen is not None:
        if "Credential" in type(seen).__name__ or "Fetch Credentials" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "inner_exception", None)
    return False


def current_keys(section: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """The keys in use now (from the section or the chain); a clear error when there are none."""
    keys = static_keys(section)
    if keys is not None:
        return keys
    try:
        cred = credential_client(section).get_credential()
    except Exception as exc:
        raise no_credentials(exc) from None
    return str(cred.access_key_id), str(cred.access_key_secret), cred.security_token or None


def key_digest(section: Mapping[str, Any]) -> str:
    """A stable short name of the caller: the account id, else a digest of the access key id."""
    if section.get("account_id"):
        return str(section["account_id"])
    return hashlib.sha256(current_keys(section)[0].encode()).hexdigest()[:10]


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of an endpoint given as a host or a URL (https when no scheme is given)."""
    if "://" in endpoint:
        scheme, _, rest = endpoint.partition("://")
        return scheme.lower(), rest.rstrip("/")
    return "https", endpoint.rstrip("/")


def alibaba_message(exc: BaseException) -> tuple[str | None, str]:
    """``(code, message)`` of an SDK error: Alibaba's own error code and text."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    inner = getattr(exc, "inner_exception", None)
    if inner is not None and not code:
        message = f"{type(inner).__name__}: {inner}"
    return (str(code) if code else None), str(message)


def fc_error(exc: BaseException, what: str, endpoint: str) -> BackendError | ConfigError:
    """A Function Compute SDK error as a :class:`BackendError` that says what failed and what to do (a
    :class:`ConfigError` when there are no credentials at all).
    """
    if is_credentials_problem(exc):
        return no_credentials(exc)
    code, message = alibaba_message(exc)
    status = getattr(exc, "status_code", None)
    if code is None:  # no answer: the endpoint is down or unreachable
        return BackendError(f"{what}: Function Compute at {endpoint} did not answer ({message}). Check the network, "
                            f"aliyun_fc.region and aliyun_fc.endpoint.")
    if code in ("InvalidAccessKeyId", "InvalidAccessKeyId.NotFound", "SignatureNotMatch", "InvalidSignature",
                "SignatureDoesNotMatch") or status in (401, 403):
        return BackendError(f"{what}: Function Compute refused the credentials ({code}: {message}). Check "
                            f"aliyun.access_key_id and access_key_secret (or {ENV_KEY_ID}), and that the RAM user "
                            f"may use Function Compute (AliyunFCFullAccess).")
    return BackendError(f"{what} failed: {code}: {message}")
