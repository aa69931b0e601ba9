"""The ``ibm_cos`` storage backend: IBM Cloud Object Storage through its S3-compatible endpoint.

The client is boto3. With HMAC keys it signs requests with them (Signature V4). With an IAM API key it sends no
signature but an ``Authorization: Bearer <token>`` header, the token coming from ibm-cloud-sdk-core's
``IAMAuthenticator`` (which fetches it from ``ibm.iam_endpoint`` and refreshes it before it expires); the header
is set on each attempt of each request, retries included.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.config import Config

from lithops.backends.storage import StorageBackend
from lithops.errors import BackendError, ConfigError
from lithops.plugins.specs import ConfigKey
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops.utils import is_lithops_worker
from lithops_ibm.iam import authenticator, bearer_token, iam_endpoint, translate
from lithops_ibm.plugin import COS_CONFIG, cos_problems

_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
#: Keys COS's multi-object delete accepts per request.
_DELETE_BATCH = 1000


def public_endpoint(region: str) -> str:
    """COS's public S3 endpoint of a region."""
    return f"https://s3.{region}.cloud-object-storage.appdomain.cloud"


def private_endpoint(region: str) -> str:
    """COS's private S3 endpoint of a region (reachable from IBM Cloud, e.g. from Code Engine)."""
    return f"https://s3.private.{region}.cloud-object-storage.appdomain.cloud"


class COSAccessError(BackendError):
    """COS refused the credentials (wrong HMAC keys, an IAM token without access to the bucket)."""


class COSStorage(StorageBackend):
    """Objects in IBM COS buckets.

    Args:
        config: the ``ibm_cos`` section (see ``lithops_ibm.plugin.COS_CONFIG``).
    """

    name = "ibm_cos"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = COS_CONFIG

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        problems = cos_problems(self.config)
        if problems:
            raise ConfigError("ibm_cos: " + "; ".join(problems) + ".")
        region = self.config.get("region")
        if not self.config.get("endpoint"):
            self.config["endpoint"] = public_endpoint(str(region))
            self.config["private_endpoint"] = self.config.get("private_endpoint") or private_endpoint(str(region))
        private = self.config.get("private_endpoint")
        self.endpoint: str = str(private if private and is_lithops_worker() else self.config["endpoint"])
        self.hmac = bool(self.config.get("access_key_id") and self.config.get("secret_access_key"))
        options: dict[str, Any] = dict(
            max_pool_connections=int(self.config["max_pool_connections"]),
            connect_timeout=float(self.config["connect_timeout"]),
            read_timeout=float(self.config["read_timeout"]),
            retries={"max_attempts": int(self.config["max_attempts"]), "mode": "standard"},
            s3={"addressing_style": "path"},
            # COS does not take the checksum trailers boto3 adds by default since 1.36 (aws-chunked bodies)
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        if self.hmac:
            credentials = {"aws_access_key_id": self.config["access_key_id"],
                           "aws_secret_access_key": self.config["secret_access_key"]}
        else:
            options["signature_version"] = UNSIGNED
            credentials = {}
        # COS ignores the Signature V4 region (the endpoint picks the location); us-east-1 is boto3's own default
        session = boto3.session.Session(region_name="us-east-1", **credentials)
        self.client = session.client("s3", endpoint_url=self.endpoint, config=Config(**options))
        if not self.hmac:
            self._iam_url = iam_endpoint(self.config)
            self._auth = authenticator(str(self.config.get("api_key") or self.config["iam_api_key"]), self._iam_url)
            self.client.meta.events.register("before-sign.s3", self._add_token)
        self.transfer_config = TransferConfig(
            multipart_threshold=int(self.config["multipart_threshold"]),
            multipart_chunksize=int(self.config["multipart_chunksize"]),
            max_concurrency=4,
        )

    def _add_token(self, request: Any, **kwargs: Any) -> None:
        """Put the IAM bearer token on a request (each attempt asks for a valid one)."""
        try:
            token = bearer_token(self._auth)
        except Exception as exc:
            new = translate(exc, "IBM COS: getting an IAM token", self._iam_url)
            if new is exc:
                raise
            raise new from exc
        request.headers["Authorization"] = f"Bearer {token}"

    def default_bucket(self) -> str:
        """``storage_bucket``, or (with HMAC keys, created on first use) ``lithops-<region>-<hash of the access key
        id>``: the same name on every run with the same credentials.
        """
        bucket = self.config.get("storage_bucket")
        if bucket:
            return str(bucket)
        region = self.config.get("region") or "cos"
        digest = hashlib.sha1(str(self.config["access_key_id"]).encode(), usedforsecurity=False).hexdigest()[:8]
        bucket = f"lithops-{region}-{digest}"
        try:
            self.head_bucket(bucket)
        except StorageNoSuchBucketError:
            self.create_bucket(bucket)
        self.config["storage_bucket"] = bucket
        return bucket

    # -- errors ----------------------------------------------------------------------------------------------
    def _raise(self, exc: BaseException, what: str, bucket: str, key: str | None = None) -> None:
        code, status = _code(exc), _status(exc)
        if code == "NoSuchBucket":
            raise StorageNoSuchBucketError(bucket) from None
        if key is not None and (code in ("NoSuchKey", "404", "NotFound") or status == 404):
            raise StorageNoSuchKeyError(bucket, key) from None
        where = f"IBM COS {what} of cos://{bucket}/{key or ''}"
        if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError):
            raise BackendError(f"{where}: could not connect to {self.endpoint}. Check ibm_cos.endpoint (or "
                               f"region) and the network.") from exc
        if status in (401, 403) or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            fix = ("check ibm_cos.access_key_id and secret_access_key (HMAC keys of a service credential of this "
                   "COS instance)") if self.hmac else (
                "give the API key's identity the Writer role on this COS instance or bucket (IAM > Access)")
            raise COSAccessError(f"{where}: COS refused the request ({code}: {_message(exc)}). To fix it, "
                                 f"{fix}.") from exc
        new = translate(exc, where, self.endpoint)
        if new is exc:
            raise exc
        raise new from exc

    # -- objects ---------------------------------------------------------------------------------------------
    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Write an object; file objects and bodies over ``multipart_threshold`` are streamed in parts."""
        if isinstance(body, str):
            body = body.encode()
        try:
            if isinstance(body, (bytes, bytearray, memoryview)):
                if len(body) < self.transfer_config.multipart_threshold:
                    self.client.put_object(Bucket=bucket, Key=key, Body=bytes(body))
                    return
                body = io.BytesIO(body)
            self.client.upload_fileobj(body, bucket, key, Config=self.transfer_config)
        except Exception as exc:
            self._raise(_boto_cause(exc), "put", bucket)

    def get_object(
        self, bucket: str, key: str, stream: bool = False, extra_get_args: Mapping[str, Any] | None = None
    ) -> bytes | BinaryIO:
        """Read an object, or ``extra_get_args={'Range': 'bytes=a-b'}`` of it; a file object with ``stream``."""
        try:
            body = self.client.get_object(Bucket=bucket, Key=key, **dict(extra_get_args or {}))["Body"]
            if stream:
                return body  # type: ignore[no-any-return]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data
        except _BOTO_ERRORS as exc:
            self._raise(exc, "get", bucket, key)
            raise  # unreachable

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """The object's HTTP headers, lower-case (``content-length``, ``last-modified``, ``etag``, ...)."""
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except _BOTO_ERRORS as exc:
            self._raise(exc, "head", bucket, key)
        return {str(k).lower(): str(v) for k, v in response["ResponseMetadata"]["HTTPHeaders"].items()}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a missing one is no error)."""
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except _BOTO_ERRORS as exc:
            self._raise(exc, "delete", bucket)

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Delete objects, up to 1000 per request."""
        for i in range(0, len(key_list), _DELETE_BATCH):
            batch = [{"Key": k} for k in key_list[i:i + _DELETE_BATCH]]
            try:
                response = self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            except _BOTO_ERRORS as exc:
                self._raise(exc, "delete", bucket)
            errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise COSAccessError(
                    f"IBM COS could not delete {len(errors)} object(s) of bucket {bucket!r}, e.g. "
                    f"{errors[0].get('Key')!r}: {errors[0].get('Code')} {errors[0].get('Message')}. Check that the "
                    f"credentials may delete objects (Writer role)."
                )

    # -- buckets ---------------------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """boto3's answer (``ResponseMetadata`` with ``HTTPStatusCode`` and ``HTTPHeaders``); StorageNoSuchBucketError
        when the bucket does not exist.
        """
        try:
            return dict(self.client.head_bucket(Bucket=bucket))
        except _BOTO_ERRORS as exc:
            if _status(exc) == 404 or _code(exc) in ("404", "NoSuchBucket"):
                raise StorageNoSuchBucketError(bucket) from None
            self._raise(exc, "head bucket", bucket)
            raise  # unreachable

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket at the endpoint's location; one you already own is left as it is."""
        try:
            self.client.create_bucket(Bucket=bucket)
        except _BOTO_ERRORS as exc:
            code = _code(exc)
            if code == "BucketAlreadyOwnedByYou":
                return
            if code == "BucketAlreadyExists":
                raise ConfigError(f"bucket {bucket!r} already exists and belongs to another account (COS bucket "
                                  f"names are global). Set ibm_cos.storage_bucket to another name.") from None
            self._raise(exc, "create bucket", bucket)

    def list_objects(
        self, bucket: str, prefix: str | None = None, match_pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects whose key starts with ``prefix`` (and matches the glob ``match_pattern``), sorted by key."""
        result: list[dict[str, Any]] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix or ""):
                for obj in page.get("Contents", []):
                    if match_pattern is None or fnmatch.fnmatch(obj["Key"], match_pattern):
                        result.append({"Key": obj["Key"], "Size": obj["Size"], "LastModified": obj["LastModified"]})
        except _BOTO_ERRORS as exc:
            self._raise(exc, "list", bucket)
        return result

    # -- files -----------------------------------------------------------------------------------------------
    def upload_file(self, file_name: str, bucket: str, key: str | None = None) -> None:
        """Upload a local file, in parallel parts when large."""
        key = key or os.path.basename(file_name)
        try:
            self.client.upload_file(file_name, bucket, key, Config=self.transfer_config)
        except Exception as exc:
            self._raise(_boto_cause(exc), "upload", bucket)

    def download_file(self, bucket: str, key: str, file_name: str | None = None) -> None:
        """Download an object into a local file, in parallel parts when large."""
        target = file_name or key
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        try:
            self.client.download_file(bucket, key, target, Config=self.transfer_config)
        except _BOTO_ERRORS as exc:
            self._raise(exc, "download", bucket, key)

    def get_client(self) -> Any:
        """The boto3 S3 client."""
        return self.client


def _boto_cause(exc: BaseException) -> BaseException:
    """The boto3 error behind an s3transfer failure (which wraps the errors of parts), else ``exc``."""
    if isinstance(exc, _BOTO_ERRORS):
        return exc
    cause = exc.__cause__ or exc.__context__
    return cause if isinstance(cause, _BOTO_ERRORS) else exc


def _code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _status(exc: BaseException) -> int:
    if isinstance(exc, botocore.exceptions.ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return 0


def _message(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Message") or "no message")
    return str(exc)
