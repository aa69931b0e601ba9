"""The ``aws_s3`` storage backend: Amazon S3, or any S3-compatible store (MinIO, Ceph) through ``endpoint``.

:class:`S3Storage` is also the base of the backends of other stores that speak the S3 API (``ibm_cos`` of
lithops-ibm): they change only its extension points, listed in its docstring.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar, NoReturn

import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from lithops.backends.storage import StorageBackend
from lithops.errors import BackendError, ConfigError
from lithops.plugins.specs import ConfigKey
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops_aws.plugin import S3_CONFIG, apply_aliases
from lithops_aws.session import (
    AWSAccessDeniedError,
    aws_errors,
    error_code,
    http_status,
    make_client,
    make_session,
    region_of,
    translate,
)

_NO_KEY = ("NoSuchKey", "404", "NotFound")
_NO_BUCKET = ("NoSuchBucket",)
_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
#: Keys S3's DeleteObjects accepts per request.
_DELETE_BATCH = 1000


class S3Storage(StorageBackend):
    """Objects in S3 buckets.

    A store that speaks the S3 API subclasses it and changes only what differs, through these extension points:
    the class attributes :attr:`service`, :attr:`url_scheme`, :attr:`checksums` and :attr:`access_error`;
    :meth:`_prepare` (the section as read), :meth:`_endpoint_url`, :meth:`_new_client` (credentials and request
    signing), :meth:`_bucket_location`, :meth:`_translate` and :meth:`_access_fix` (the advice of errors), and
    :meth:`_default_bucket_name`. The object, bucket and file operations, the multipart transfers and the mapping of
    missing buckets and keys are this class's for every such store.

    Args:
        config: the ``aws_s3`` section (see ``lithops_aws.plugin.S3_CONFIG``).
    """

    name = "aws_s3"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = S3_CONFIG
    #: The store's name in error messages.
    service: ClassVar[str] = "S3"
    #: The URL scheme of objects in error messages (``s3://bucket/key``).
    url_scheme: ClassVar[str] = "s3"
    #: botocore's ``request_checksum_calculation`` and ``response_checksum_validation``; None keeps boto3's
    #: default ("when_supported": since boto3 1.36 every upload carries a CRC checksum, as an aws-chunked trailer
    #: on streamed bodies). "when_required" is for stores that refuse those trailers.
    checksums: ClassVar[str | None] = None
    #: The error raised when the store refuses an operation to the credentials.
    access_error: ClassVar[type[BackendError]] = AWSAccessDeniedError

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(self._prepare(config))
        self.endpoint: str | None = self._endpoint_url()
        self.region = region_of(self.config)
        self.client = self._new_client()
        self.transfer_config = TransferConfig(
            multipart_threshold=int(self.config["multipart_threshold"]),
            multipart_chunksize=int(self.config["multipart_chunksize"]),
            max_concurrency=4,
        )

    # -- extension points ------------------------------------------------------------------------------------
    def _prepare(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The section as this backend reads it (before the schema's check and defaults): here Lithops 3.x key
        names moved to the new ones.
        """
        return apply_aliases(config, self.name)

    def _endpoint_url(self) -> str | None:
        """The URL requests go to: ``endpoint``, else ``AWS_ENDPOINT_URL_S3``, else None (AWS's, by region)."""
        return self.config.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3") or None

    def _client_options(self) -> dict[str, Any]:
        """The ``botocore.config.Config`` arguments of the client, retries aside: connection pool, timeouts,
        addressing style (path-style when an endpoint is set, unless ``addressing_style`` says otherwise) and
        :attr:`checksums`.
        """
        options: dict[str, Any] = dict(
            max_pool_connections=int(self.config["max_pool_connections"]),
            connect_timeout=float(self.config["connect_timeout"]),
            read_timeout=float(self.config["read_timeout"]),
            s3={"addressing_style": self.config.get("addressing_style") or ("path" if self.endpoint else "auto")},
        )
        if self.checksums:
            options.update(request_checksum_calculation=self.checksums, response_checksum_validation=self.checksums)
        return options

    def _new_client(self) -> Any:
        """The boto3 S3 client: here signed with the section's AWS credentials (or boto3's chain) for
        :attr:`region`, with ``max_attempts`` attempts per request and :meth:`_client_options`.
        """
        return make_client(self.config, "s3", endpoint=self.endpoint, max_attempts=int(self.config["max_attempts"]),
                           **self._client_options())

    def _bucket_location(self) -> str | None:
        """The ``LocationConstraint`` of new buckets, None for none: here the region (us-east-1 takes none)."""
        return None if self.region == "us-east-1" else self.region

    def _translate(self, exc: BaseException, where: str) -> BaseException:
        """The Lithops error for a failed request that ``where`` names, or ``exc`` itself when it is nothing
        general: here ``lithops_aws.session.translate`` (credentials, endpoint down, access denied).
        """
        return translate(exc, where, self.endpoint)

    def _access_fix(self) -> str:
        """What to do when the store refuses an operation to the credentials (the end of such errors)."""
        return ("grant the identity you use the S3 permissions listed in docs/backends/aws.md (s3:DeleteObject "
                "to delete)")

    def default_bucket(self) -> str:
        """``storage_bucket``, or the bucket :meth:`_default_bucket_name` names, created on first use."""
        bucket = self.config.get("storage_bucket")
        if bucket:
            return str(bucket)
        bucket = self._default_bucket_name()
        try:
            self.head_bucket(bucket)
        except StorageNoSuchBucketError:
            self.create_bucket(bucket)
        self.config["storage_bucket"] = bucket
        return bucket

    def _default_bucket_name(self) -> str:
        """The name of the bucket used when ``storage_bucket`` is unset, the same on every run with the same
        credentials: ``lithops-<account id>-<region>`` on AWS, which stays the same when temporary credentials
        rotate; on an S3-compatible store without STS (``endpoint`` set and no ``sts_endpoint``),
        ``lithops-<region>-<hash of the access key id>``.
        """
        account = self.config.get("account_id")
        if not account and (self.config.get("sts_endpoint") or not self.endpoint):
            sts = make_client(self.config, "sts", endpoint=self.config.get("sts_endpoint"))
            with aws_errors("STS GetCallerIdentity (for the default bucket name)", self.config.get("sts_endpoint")):
                account = sts.get_caller_identity()["Account"]
        if account:
            return f"lithops-{account}-{self.region}"
        with aws_errors("S3 default bucket", self.endpoint):
            credentials = make_session(self.config).get_credentials()  # boto3's chain
        if credentials is None:
            raise translate(botocore.exceptions.NoCredentialsError(), "S3 default bucket", self.endpoint)
        digest = hashlib.sha1(credentials.access_key.encode(), usedforsecurity=False).hexdigest()[:8]
        return f"lithops-{self.region}-{digest}"

    # -- errors ----------------------------------------------------------------------------------------------
    def _raise(self, exc: BaseException, what: str, bucket: str, key: str | None = None) -> NoReturn:
        """Raise the Lithops error for ``exc``, a failed ``what`` (put, get, ...) of the bucket or of ``key``."""
        code = error_code(exc)
        if code in _NO_BUCKET:
            raise StorageNoSuchBucketError(bucket) from None
        if key is not None and (code in _NO_KEY or http_status(exc) == 404):
            raise StorageNoSuchKeyError(bucket, key) from None
        new = self._translate(exc, f"{self.service} {what} of {self.url_scheme}://{bucket}/{key or ''}")
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
            response = self.client.get_object(Bucket=bucket, Key=key, **dict(extra_get_args or {}))
            body = response["Body"]
            if stream:
                return body  # type: ignore[no-any-return]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data
        except _BOTO_ERRORS as exc:
            self._raise(exc, "get", bucket, key)

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """The object's HTTP headers, lower-case (``content-length``, ``last-modified``, ``etag``, ...)."""
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except _BOTO_ERRORS as exc:
            self._raise(exc, "head", bucket, key)
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        return {str(k).lower(): str(v) for k, v in headers.items()}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a missing one is no error)."""
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except _BOTO_ERRORS as exc:
            self._raise(exc, "delete", bucket)

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Delete objects, up to 1000 per request."""
        for i in range(0, len(key_list), _DELETE_BATCH):
            batch = [{"Key": k} for k in key_list[i : i + _DELETE_BATCH]]
            try:
                response = self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            except _BOTO_ERRORS as exc:
                self._raise(exc, "delete", bucket)
            errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise self.access_error(
                    f"{self.service} could not delete {len(errors)} object(s) of bucket {bucket!r}, e.g. "
                    f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message')}. To fix it, "
                    f"{self._access_fix()}."
                )

    # -- buckets ---------------------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """boto3's answer (``ResponseMetadata`` with ``HTTPStatusCode`` and ``HTTPHeaders``), as Lithops returns it;
        StorageNoSuchBucketError when the bucket does not exist.
        """
        try:
            response = self.client.head_bucket(Bucket=bucket)
        except _BOTO_ERRORS as exc:
            if http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchBucket"):
                raise StorageNoSuchBucketError(bucket) from None
            self._raise(exc, "head bucket", bucket)
        return dict(response)

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket at :meth:`_bucket_location`; one you already own is left as it is."""
        args: dict[str, Any] = {"Bucket": bucket}
        location = self._bucket_location()
        if location:
            args["CreateBucketConfiguration"] = {"LocationConstraint": location}
        try:
            self.client.create_bucket(**args)
        except _BOTO_ERRORS as exc:
            code = error_code(exc)
            if code == "BucketAlreadyOwnedByYou":
                return
            if code == "BucketAlreadyExists":
                raise ConfigError(
                    f"bucket {bucket!r} already exists and belongs to another account ({self.service} bucket "
                    f"names are global). Set {self.name}.storage_bucket to another name."
                ) from None
            self._raise(exc, "create bucket", bucket)

    def list_objects(
        self, bucket: str, prefix: str | None = None, match_pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects whose key starts with ``prefix`` (and matches the glob ``match_pattern``), sorted by key."""
        result: list[dict[str, Any]] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix or ""):
                for obj in page.get("Contents", []):
                    if match_pattern is None or fnmatch.fnmatch(obj["Key"], match_pattern):
                        result.append({"Key": obj["Key"], "Size": obj["Size"], "LastModified": obj["LastModified"]})
        except _BOTO_ERRORS as exc:
            self._raise(exc, "list", bucket)
        return result

    def list_keys(self, bucket: str, prefix: str | None = None) -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        return [obj["Key"] for obj in self.list_objects(bucket, prefix)]

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
