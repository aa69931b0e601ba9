"""The ``aws_s3`` storage backend: Amazon S3, or any S3-compatible store (MinIO, Ceph) through ``endpoint``."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar

import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from lithops.backends.storage import StorageBackend
from lithops.plugins.specs import ConfigKey
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops_aws.plugin import S3_CONFIG, apply_aliases
from lithops_aws.session import (
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
#: Keys S3's DeleteObjects accepts per request.
_DELETE_BATCH = 1000


class S3Storage(StorageBackend):
    """Objects in S3 buckets.

    Args:
        config: the ``aws_s3`` section (see ``lithops_aws.plugin.S3_CONFIG``).
    """

    name = "aws_s3"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = S3_CONFIG

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(apply_aliases(config, "aws_s3"))
        self.endpoint: str | None = self.config.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3") or None
        style = self.config.get("addressing_style") or ("path" if self.endpoint else "auto")
        self.region = region_of(self.config)
        self.client = make_client(
            self.config, "s3", endpoint=self.config.get("endpoint"),
            max_attempts=int(self.config["max_attempts"]),
            max_pool_connections=int(self.config["max_pool_connections"]),
            connect_timeout=float(self.config["connect_timeout"]),
            read_timeout=float(self.config["read_timeout"]),
            s3={"addressing_style": style},
        )
        self.transfer_config = TransferConfig(
            multipart_threshold=int(self.config["multipart_threshold"]),
            multipart_chunksize=int(self.config["multipart_chunksize"]),
            max_concurrency=4,
        )

    def default_bucket(self) -> str:
        """``storage_bucket``, or (created on first use) ``lithops-<account id>-<region>`` on AWS, which stays the
        same when temporary credentials rotate; on an S3-compatible store without STS (``endpoint`` set and no
        ``sts_endpoint``), ``lithops-<region>-<hash of the access key id>``.
        """
        bucket = self.config.get("storage_bucket")
        if bucket:
            return str(bucket)
        account = self.config.get("account_id")
        if not account and (self.config.get("sts_endpoint") or not self.endpoint):
            sts = make_client(self.config, "sts", endpoint=self.config.get("sts_endpoint"))
            with aws_errors("STS GetCallerIdentity (for the default bucket name)", self.config.get("sts_endpoint")):
                account = sts.get_caller_identity()["Account"]
        if account:
            bucket = f"lithops-{account}-{self.region}"
        else:
            with aws_errors("S3 default bucket", self.endpoint):
                credentials = make_session(self.config).get_credentials()  # boto3's chain
            if credentials is None:
                raise translate(botocore.exceptions.NoCredentialsError(), "S3 default bucket", self.endpoint)
            digest = hashlib.sha1(credentials.access_key.encode(), usedforsecurity=False).hexdigest()[:8]
            bucket = f"lithops-{self.region}-{digest}"
        try:
            self.head_bucket(bucket)
        except StorageNoSuchBucketError:
            self.create_bucket(bucket)
        self.config["storage_bucket"] = bucket
        return bucket

    # -- errors ----------------------------------------------------------------------------------------------
    def _raise(self, exc: Exception, what: str, bucket: str, key: str | None = None) -> None:
        code = error_code(exc)
        if code in _NO_BUCKET:
            raise StorageNoSuchBucketError(bucket) from None
        if key is not None and code in _NO_KEY:
            raise StorageNoSuchKeyError(bucket, key) from None
        new = translate(exc, f"S3 {what} of s3://{bucket}/{key or ''}", self.endpoint)
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
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self._raise(exc, "put", bucket, None)
        except Exception as exc:  # s3transfer wraps ClientErrors of parts
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)):
                self._raise(cause, "put", bucket, None)
            raise

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
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self._raise(exc, "get", bucket, key)
            raise  # unreachable

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """The object's HTTP headers, lower-case (``content-length``, ``last-modified``, ``etag``, ...)."""
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if http_status(exc) == 404:
                raise StorageNoSuchKeyError(bucket, key) from None
            self._raise(exc, "head", bucket, key)
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        return {str(k).lower(): str(v) for k, v in headers.items()}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a missing one is no error)."""
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self._raise(exc, "delete", bucket, None)

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Delete objects, up to 1000 per request."""
        for i in range(0, len(key_list), _DELETE_BATCH):
            batch = [{"Key": k} for k in key_list[i : i + _DELETE_BATCH]]
            try:
                response = self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                self._raise(exc, "delete", bucket, None)
            errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise OSError(
                    f"S3 could not delete {len(errors)} object(s) of bucket {bucket!r}, e.g. {first.get('Key')!r}: "
                    f"{first.get('Code')} {first.get('Message')}. Check the credentials' s3:DeleteObject permission."
                )

    # -- buckets ---------------------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """boto3's answer (``ResponseMetadata`` with ``HTTPStatusCode`` and ``HTTPHeaders``), as Lithops returns it;
        StorageNoSuchBucketError when the bucket does not exist.
        """
        try:
            response = self.client.head_bucket(Bucket=bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchBucket"):
                raise StorageNoSuchBucketError(bucket) from None
            self._raise(exc, "head bucket", bucket)
        return dict(response)

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket in the configured region; one you already own is left as it is."""
        args: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**args)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            code = error_code(exc)
            if code == "BucketAlreadyOwnedByYou":
                return
            if code == "BucketAlreadyExists":
                raise ValueError(
                    f"bucket {bucket!r} already exists and belongs to another AWS account (bucket names are "
                    f"global). Choose another name for aws_s3.storage_bucket."
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
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self._raise(exc, "list", bucket)
        return result

    def list_keys(self, bucket: str, prefix: str | None = None) -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        return [obj["Key"] for obj in self.list_objects(bucket, prefix)]

    # -- files -----------------------------------------------------------------------------------------------
    def upload_file(self, file_name: str, bucket: str, key: str | None = None) -> None:
        """Upload a local file, in parallel parts when large."""
        key = key or os.path.basename(file_name)
        with aws_errors(f"S3 upload of {file_name} to s3://{bucket}/{key}", self.endpoint):
            try:
                self.client.upload_file(file_name, bucket, key, Config=self.transfer_config)
            except Exception as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, botocore.exceptions.ClientError):
                    self._raise(cause, "upload", bucket, None)
                raise

    def download_file(self, bucket: str, key: str, file_name: str | None = None) -> None:
        """Download an object into a local file, in parallel parts when large."""
        target = file_name or key
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        try:
            self.client.download_file(bucket, key, target, Config=self.transfer_config)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if http_status(exc) == 404:
                raise StorageNoSuchKeyError(bucket, key) from None
            self._raise(exc, "download", bucket, key)

    def get_client(self) -> Any:
        """The boto3 S3 client."""
        return self.client
