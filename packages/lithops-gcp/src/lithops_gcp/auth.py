"""Credentials, project and region of a config section, identity tokens, and Google errors as Lithops errors.

Credentials come from ``credentials_path`` (a service account key file), else ``GOOGLE_APPLICATION_CREDENTIALS``,
else the application-default credentials (``gcloud auth application-default login``, or the machine's service
account). Keys are never pasted into the config. A section with an ``api_endpoint`` (a local stand-in) falls back
to anonymous credentials when none are found, as Google's clients do with ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import google.auth
import google.auth.exceptions
import requests
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials

from lithops.errors import BackendError, ConfigError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
#: The bearer token sent to local stand-ins, which have no identity to vouch for.
ANONYMOUS_TOKEN = "anonymous"


class GCPCredentialsError(ConfigError):
    """No usable Google Cloud credentials: none found, unreadable, wrong or expired."""


class GCPConnectionError(BackendError):
    """A Google Cloud endpoint (or a local stand-in) could not be reached."""


class GCPAccessDeniedError(BackendError):
    """The credentials are valid but lack a permission, or the project has not enabled an API."""


_HOW_TO_FIX = (
    "Give Google credentials in one of the usual ways: gcp.credentials_path or GOOGLE_APPLICATION_CREDENTIALS "
    "naming a service account key file, 'gcloud auth application-default login', or the service account of the "
    "machine (docs/backends/gcp.md lists the roles it needs)."
)


def load_credentials(section: Mapping[str, Any], anonymous_ok: bool = False) -> tuple[Credentials, str | None]:
    """The credentials of a section and the project they belong to (None when they do not say).

    Raises:
        GCPCredentialsError: the key file does not exist or is not a credentials file, or no credentials are found
            (and ``anonymous_ok`` is false).
    """
    path = section.get("credentials_path") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path:
        where = "gcp.credentials_path" if section.get("credentials_path") else "GOOGLE_APPLICATION_CREDENTIALS"
        if not os.path.isfile(path):
            raise GCPCredentialsError(f"{where} is {path}, which is not a file. Point it at a service account key "
                                      f"file (JSON), or unset it to use the application-default credentials.")
        return _from_file(path, where)
    try:
        credentials, project = google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        if anonymous_ok:
            return AnonymousCredentials(), None
        raise GCPCredentialsError(f"no Google Cloud credentials found ({exc}). {_HOW_TO_FIX}") from None
    return credentials, project


def _from_file(path: str, where: str) -> tuple[Credentials, str | None]:
    """Credentials of a service account key or an authorized-user file (only those two kinds are loaded)."""
    from google.oauth2 import credentials as user_credentials
    from google.oauth2 import service_account

    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            sa = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
            return sa, info.get("project_id")
        if kind == "authorized_user":
            user = user_credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
            return user, info.get("quota_project_id")
        problem = f"its type is {kind!r}, not service_account or authorized_user"
    except (OSError, ValueError) as exc:
        problem = str(exc)
    raise GCPCredentialsError(f"{where} ({path}) is not a usable credentials file: {problem}. {_HOW_TO_FIX}")


def project_of(section: Mapping[str, Any], credentials_project: str | None) -> str:
    """The project id: ``project_name``, else the credentials' project."""
    project = section.get("project_name") or credentials_project
    if not project:
        raise ConfigError("no Google Cloud project: set gcp.project_name to your project id (the credentials do "
                          "not name one).")
    return str(project)


def region_of(section: Mapping[str, Any], what: str) -> str:
    """The region of a section; ``what`` names the backend in the error."""
    region = section.get("region")
    if not region:
        raise ConfigError(f"{what} needs a region: set gcp.region (or region in the {what} section), e.g. "
                          f"us-east1.")
    return str(region)


def identity_token(credentials: Credentials, audience: str) -> str:
    """An identity token for ``audience`` (a service's URL), as Cloud Run and Cloud Functions require of callers.

    Service account keys and the metadata server mint one directly; user credentials (``gcloud auth login``) get
    one from ``gcloud auth print-identity-token``; anonymous credentials (local stand-ins) send a placeholder.
    """
    if isinstance(credentials, AnonymousCredentials):
        return ANONYMOUS_TOKEN
    import google.auth.transport.requests
    import google.oauth2.id_token

    try:
        return str(google.oauth2.id_token.fetch_id_token(google.auth.transport.requests.Request(), audience))
    except google.auth.exceptions.DefaultCredentialsError:
        pass
    try:
        proc = subprocess.run(["gcloud", "auth", "print-identity-token"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GCPCredentialsError(
            f"cannot get an identity token to call {audience}: the credentials cannot mint one and gcloud failed "
            f"({exc}). Use a service account key (gcp.credentials_path) or install the gcloud CLI and run "
            f"'gcloud auth login'.") from None
    if proc.returncode != 0 or not proc.stdout.strip():
        raise GCPCredentialsError(f"cannot get an identity token to call {audience}: 'gcloud auth "
                                  f"print-identity-token' said {proc.stderr.strip()!r}. Run 'gcloud auth login', or "
                                  f"use a service account key (gcp.credentials_path).")
    return proc.stdout.strip()


def translate(exc: BaseException, what: str, endpoint: str | None = None) -> BaseException:
    """The Lithops error for a failure of ``what`` against Google Cloud, or ``exc`` when it is nothing general.

    The cloud's own message is kept: for a project that has not enabled an API it names the API and the page that
    enables it.
    """
    where = endpoint or "Google Cloud"
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        google.auth.exceptions.TransportError)):
        return GCPConnectionError(f"{what}: cannot reach {where} ({exc}). Check the network and the region; with "
                                  f"a local stand-in, check that it runs at the configured api_endpoint.")
    if isinstance(exc, google.auth.exceptions.RefreshError):
        return GCPCredentialsError(f"{what}: Google refused the credentials ({exc}). {_HOW_TO_FIX}")
    if isinstance(exc, (api_exceptions.Unauthenticated, api_exceptions.Unauthorized)):
        return GCPCredentialsError(f"{what}: Google refused the credentials ({exc.message}). {_HOW_TO_FIX}")
    if isinstance(exc, (api_exceptions.PermissionDenied, api_exceptions.Forbidden)):
        return GCPAccessDeniedError(
            f"{what}: permission denied: {exc.message}. Enable the API it names, or grant the roles listed in "
            f"docs/backends/gcp.md to the identity you use.")
    if isinstance(exc, api_exceptions.RetryError) and exc.cause is not None:
        return translate(exc.cause, what, endpoint)
    return exc


@contextmanager
def gcp_errors(what: str, endpoint: str | None = None) -> Iterator[None]:
    """Re-raise general Google failures inside the block as Lithops errors (see :func:`translate`)."""
    try:
        yield
    except (api_exceptions.GoogleAPIError, google.auth.exceptions.GoogleAuthError,
            requests.exceptions.RequestException) as exc:
        new = translate(exc, what, endpoint)
        if new is exc:
            raise
        raise new from exc


@contextmanager
def refused(what: str) -> Iterator[None]:
    """A request Google refused for its content (400, 404, 409) as a :class:`BackendError` with Google's message,
    which names the field or resource at fault (``what`` says which request it was).
    """
    try:
        yield
    except (api_exceptions.BadRequest, api_exceptions.NotFound, api_exceptions.Conflict,
            api_exceptions.FailedPrecondition) as exc:
        raise BackendError(f"{what}: {exc.message}. Check the region (gcp.region) and the section's "
                           f"settings.") from None

