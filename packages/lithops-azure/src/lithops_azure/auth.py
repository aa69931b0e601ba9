"""Azure clients made from a config section, and Azure errors turned into Lithops errors that say what to do.

Storage (Blob and Queue): the section's ``connection_string``, else ``AZURE_STORAGE_CONNECTION_STRING``, else the
account name with its key, else the account name with azure-identity's ``DefaultAzureCredential`` (environment,
managed identity, Azure CLI login). Resource Manager: ``access_token`` used as is, else ``DefaultAzureCredential``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from lithops.errors import BackendError, ConfigError

#: The standard variable of Azure's tools and SDKs for a storage connection string.
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


class AzureCredentialsError(ConfigError):
    """No usable Azure credentials: none found, wrong or expired."""


class AzureConnectionError(BackendError):
    """An Azure endpoint (or an emulator standing in for it) could not be reached."""


_STORAGE_FIX = (
    "Set azure_storage.connection_string (or the AZURE_STORAGE_CONNECTION_STRING environment variable), or "
    "azure_storage.storage_account_name with storage_account_key; without a key, log in so that azure-identity finds "
    "a credential (az login, a managed identity, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET) that has "
    "the Storage Blob Data Contributor and Storage Queue Data Contributor roles on the account."
)
_ARM_FIX = (
    "Log in so that azure-identity finds a credential (az login, a managed identity, or AZURE_CLIENT_ID/"
    "AZURE_TENANT_ID/AZURE_CLIENT_SECRET), or set azure.access_token to a fresh token "
    "('az account get-access-token --query accessToken -o tsv')."
)


def connection_string(section: Mapping[str, Any]) -> str | None:
    """The storage connection string of a section: its own, the environment's, or one made of name and key."""
    found = section.get("connection_string") or os.environ.get(CONNECTION_STRING_ENV)
    if found:
        return str(found)
    name, key = section.get("storage_account_name"), section.get("storage_account_key")
    if name and key:
        return f"DefaultEndpointsProtocol=https;AccountName={name};AccountKey={key};EndpointSuffix=core.windows.net"
    return None


def parse_connection_string(text: str) -> dict[str, str]:
    """The ``Key=value;`` pairs of a connection string."""
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {k.strip(): v.strip() for k, v in pairs}


def account_name(section: Mapping[str, Any]) -> str:
    """The storage account a section uses."""
    conn = connection_string(section)
    name = parse_connection_string(conn).get("AccountName") if conn else section.get("storage_account_name")
    if not name:
        raise AzureCredentialsError(f"no Azure storage account is configured. {_STORAGE_FIX}")
    return str(name)


def _identity() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def blob_service(section: Mapping[str, Any], **kwargs: Any) -> Any:
    """A ``BlobServiceClient`` for the section's account."""
    from azure.storage.blob import BlobServiceClient

    conn = connection_string(section)
    if conn:
        return BlobServiceClient.from_connection_string(conn, **kwargs)
    name = account_name(section)
    return BlobServiceClient(f"https://{name}.blob.core.windows.net", credential=_identity(), **kwargs)


def queue_service(section: Mapping[str, Any], **kwargs: Any) -> Any:
    """A ``QueueServiceClient`` for the section's account."""
    from azure.storage.queue import QueueServiceClient

    conn = connection_string(section)
    if conn:
        return QueueServiceClient.from_connection_string(conn, **kwargs)
    name = account_name(section)
    return QueueServiceClient(f"https://{name}.queue.core.windows.net", credential=_identity(), **kwargs)


def queue_client(service: Any, name: str) -> Any:
    """The client of queue ``name``, with messages as base64 text, as the Functions host and KEDA expect them."""
    from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy

    return service.get_queue_client(name, message_encode_policy=BinaryBase64EncodePolicy(),
                                    message_decode_policy=BinaryBase64DecodePolicy())


class StaticTokenCredential:
    """An azure-core token credential that always answers the same bearer token (``azure.access_token``)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The configured token, said to be valid for another hour."""
        return AccessToken(self.token, int(time.time()) + 3600)


def arm_credential(section: Mapping[str, Any]) -> Any:
    """The credential of Resource Manager calls."""
    token = section.get("access_token")
    return StaticTokenCredential(str(token)) if token else _identity()


def subscription_of(section: Mapping[str, Any], backend: str) -> str:
    """The subscription id (section, else AZURE_SUBSCRIPTION_ID); ConfigError saying where to set it."""
    sub = section.get("subscription_id") or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not sub:
        raise ConfigError(f"{backend} needs a subscription: set azure.subscription_id (or AZURE_SUBSCRIPTION_ID); "
                          f"'az account show --query id -o tsv' prints yours.")
    return str(sub)


def required(section: Mapping[str, Any], key: str, backend: str, how: str) -> str:
    """A key the backend cannot work without; ConfigError naming it and ``how`` to find its value."""
    value = section.get(key)
    if not value:
        raise ConfigError(f"{backend} needs {key}: set it in the azure section (or in {backend}). {how}")
    return str(value)


#: Resource Manager error codes and what to do about them, appended to Azure's own message.
ARM_FIXES = {
    "MissingSubscriptionRegistration": "Register the resource provider once per subscription: "
                                       "'az provider register --namespace {namespace}' (docs/backends/azure.md).",
    "ResourceGroupNotFound": "Create it ('az group create -n <name> -l <region>') or fix azure.resource_group.",
    "AuthorizationFailed": "Give the identity the roles listed in docs/backends/azure.md on the resource group.",
    "InvalidAuthenticationToken": _ARM_FIX,
    "ExpiredAuthenticationToken": _ARM_FIX,
    "AuthenticationFailed": _ARM_FIX,
}


#: Error codes of wrong, expired or unusable credentials (Storage and Resource Manager; Azurite's too).
CREDENTIAL_CODES = frozenset({
    "AuthenticationFailed", "AuthorizationFailure", "InvalidAuthenticationInfo", "InvalidAuthenticationToken",
    "ExpiredAuthenticationToken", "NoAuthenticationInformation",
})

#: Codes of a 404 for the very resource asked about (the caller handles those), not for another one it needs.
_MISSING_ITSELF = frozenset({"", "ResourceNotFound", "QueueNotFound", "BlobNotFound", "ContainerNotFound"})

#: The Azure SDK's failures that :func:`translate` knows.
AZURE_ERRORS = (HttpResponseError, ServiceRequestError, ServiceResponseError)


def error_code(exc: BaseException) -> str:
    """The Azure error code of an HttpResponseError ('' for others)."""
    code = getattr(exc, "error_code", None)
    if not code:
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None)
    return str(getattr(code, "value", code) or "")


def translate(exc: BaseException, what: str, namespace: str = "") -> BaseException:
    """The Lithops error for an Azure SDK failure of ``what``: Azure's own code and message, and the fix."""
    code = error_code(exc)
    if isinstance(exc, ClientAuthenticationError) or code in CREDENTIAL_CODES:
        fix = ARM_FIXES.get(code, _ARM_FIX if namespace else _STORAGE_FIX)
        return AzureCredentialsError(f"{what}: Azure rejected the credentials "
                                     f"({code or getattr(exc, 'status_code', '')}: {_message(exc)}). {fix}")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return AzureConnectionError(f"{what}: cannot reach Azure ({exc}). Check the network, the connection string's "
                                    f"endpoints or azure.arm_endpoint, and that the service (or emulator) runs.")
    if (isinstance(exc, ResourceExistsError) and code not in ARM_FIXES) or (
            isinstance(exc, ResourceNotFoundError) and code in _MISSING_ITSELF):
        return exc  # the caller handles a missing or existing resource
    if isinstance(exc, HttpResponseError):
        fix = ARM_FIXES.get(code, "").format(namespace=namespace or "<namespace>")
        return BackendError(f"{what} failed: {code or exc.status_code}: {_message(exc)}" + (f" {fix}" if fix else ""))
    return exc


def _message(exc: Any) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    return str(text).splitlines()[0] if text else ""


@contextmanager
def azure_errors(what: str, namespace: str = "") -> Iterator[None]:
    """Re-raise Azure SDK failures in the block as Lithops errors (see :func:`translate`)."""
    try:
        yield
    except AZURE_ERRORS as exc:
        new = translate(exc, what, namespace)
        if new is exc:
            raise
        raise new from exc
