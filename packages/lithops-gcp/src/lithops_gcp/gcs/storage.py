"""The ``gcp_storage`` storage backend: Google Cloud Storage through google-cloud-storage.

``STORAGE_EMULATOR_HOST`` (Google's standard variable) points the client at an emulator, with anonymous
credentials; nothing else changes. Bodies of ``chunk_size`` bytes or more, and file objects, are sent as resumable
uploads in parts of that size; an object appears whole when its upload completes, never in part.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar, NoReturn

from google.api_core import exceptions as api_exceptions
from google.cloud import storage  # type: ignore[attr-defined]  # the library ships no type information
from google.cloud.storage.retry import DEFAULT_RETRY

from lithops.backends.helpers import body_bytes, parse_byte_range
from lithops.backends.storage import StorageBackend
from lithops.errors import ConfigError
from lithops.plugins.specs import ConfigKey
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops_gcp.auth import gcp_errors, load_credentials, project_of, translate
from lithops_gcp.plugin import GCS_CONFIG

EMULATOR_VARIABLE = "STORAGE_EMULATOR_HOST"
#: Deletions per batch request (Cloud Storage's limit).
BATCH_SIZE = 100
#: Resumable upload parts must be multiples of this many bytes.
CHUNK_QUANTUM = 256 * 1024


def _seekable(body: BinaryIO) -> bool:
    try:
        return bool(body.seekable())
    except (AttributeError, ValueError):
        return False


def default_bucket_name(project: str, region: str | None) -> str:
    """``lithops-<project>-<region>`` (or with a hash of both when that is over 63 characters): the same name every
    time for one project and region.
    """
    name = f"lithops-{project}-{region or 'multi'}".lower()
    if len(name) > 63:
        digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:10]
        name = f"{name[:52].rstrip('-')}-{digest}"
    return name


class GCSStorage(StorageBackend):
    """Google Cloud Storage.

    Args:
        config: the ``gcp_storage`` section (see ``lithops_gcp.plugin.GCS_CONFIG``).
    """

    name = "gcp_storage"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = GCS_CONFIG

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        chunk = int(self.config["chunk_size"])
        if chunk % CHUNK_QUANTUM:
            raise ConfigError(f"gcp_storage.chunk_size is {chunk}; it must be a multiple of 256 KiB (262144 bytes).")
        self.chunk_size = chunk
        self.timeout = float(self.config["timeout"])
        #: transient failures (and an unreachable endpoint) are retried for retry_timeout seconds, then raised
        self.retry = DEFAULT_RETRY.with_timeout(float(self.config["retry_timeout"]))
        self.emulator = os.environ.get(EMULATOR_VARIABLE)
        with gcp_errors("Cloud Storage client", self.emulator):
            if self.emulator:  # the client itself uses anonymous credentials and the emulator's address
                self.project = str(self.config.get("project_name") or "lithops-emulator")
                self.client = storage.Client(project=self.project)
            else:
                credentials, found = load_credentials(self.config)
                self.project = project_of(self.config, found)
                self.client = storage.Client(project=self.project, credentials=credentials)

    def default_bucket(self) -> str:
        """``storage_bucket``, or ``lithops-<project>-<region>``, created on first use."""
        bucket = self.config.get("storage_bucket")
        if bucket:
            return str(bucket)
        bucket = default_bucket_name(self.project, self.config.get("region"))
        try:
            self.head_bucket(bucket)
        except StorageNoSuchBucketError:
            self.create_bucket(bucket)
        self.config["storage_bucket"] = bucket
        return bucket

    # -- errors ----------------------------------------------------------------------------------------------
    def _raise(self, exc: Exception, what: str, bucket: str, key: str | None = None) -> NoReturn:
        if isinstance(exc, api_exceptions.NotFound):
            if key is None or not self._bucket_exists(bucket):
                raise StorageNoSuchBucketError(bucket) from None
            raise StorageNoSuchKeyError(bucket, key) from None
        new = translate(exc, f"Cloud Storage {what} of gs://{bucket}/{key or ''}", self.emulator)
        if new is exc:
            raise exc
        raise new from exc

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.client.bucket(bucket).reload(timeout=self.timeout, retry=self.retry)
        except api_exceptions.NotFound:
            return False
        return True

    def _empty_object_quirk(self, exc: Exception, bucket: str, key: str) -> bool:
        """Whether ``exc`` is gcp-storage-emulator's answer to a download of an empty object (a 206 whose
        Content-Range ``bytes 0--1/0`` the client refuses); real Cloud Storage answers 200.
        """
        return (self.emulator is not None and getattr(exc, "code", None) == 206
                and self.head_object(bucket, key)["content-length"] == "0")

    def _blob(self, bucket: str, key: str) -> storage.Blob:
        return self.client.bucket(bucket).blob(key, chunk_size=self.chunk_size)

    # -- objects ---------------------------------------------------------------------------------------------
    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Write an object; file objects and bodies of ``chunk_size`` bytes or more go up as resumable uploads."""
        try:
            if isinstance(body, (bytes, bytearray, str)):
                data = body_bytes(body)
                chunk = self.chunk_size if len(data) >= self.chunk_size else None
                blob = self.client.bucket(bucket).blob(key, chunk_size=chunk)
                blob.upload_from_string(data, content_type="application/octet-stream", timeout=self.timeout,
                                        retry=self.retry)
            elif _seekable(body):
                self._blob(bucket, key).upload_from_file(body, content_type="application/octet-stream",
                                                         timeout=self.timeout, retry=self.retry)
            else:  # resumable uploads seek back to resend a part: spool a pipe or socket first
                with tempfile.SpooledTemporaryFile(self.chunk_size) as spool:
                    shutil.copyfileobj(body, spool, CHUNK_QUANTUM)
                    spool.seek(0)
                    self._blob(bucket, key).upload_from_file(spool, content_type="application/octet-stream",
                                                             timeout=self.timeout, retry=self.retry)
        except api_exceptions.GoogleAPIError as exc:
            self._raise(exc, "upload", bucket, key)

    def get_object(self, bucket: str, key: str, stream: bool = False,
                   extra_get_args: Mapping[str, Any] | None = None) -> bytes | BinaryIO:
        """The object's bytes, or a byte range of them (``extra_get_args={"Range": "bytes=a-b"}``); a file object
        with ``stream=True``.
        """
        header = (extra_get_args or {}).get("Range")
        if header:
            if str(header).startswith("bytes=-"):  # the last n bytes: the size is needed to know where they start
                size = int(self.head_object(bucket, key)["content-length"])
            else:
                size = sys.maxsize
            start, end = parse_byte_range(str(header), size)
            data = self.get_range(bucket, key, start, None if end >= sys.maxsize else end)
            return io.BytesIO(data) if stream else data  # type: ignore[arg-type]
        blob = self._blob(bucket, key)
        try:
            if stream:
                # a missing object fails here, not at the first read
                blob.reload(timeout=self.timeout, retry=self.retry)
                return blob.open("rb", chunk_size=self.chunk_size)  # type: ignore[return-value]
            return bytes(blob.download_as_bytes(timeout=self.timeout, retry=self.retry))
        except api_exceptions.GoogleAPIError as exc:
            if self._empty_object_quirk(exc, bucket, key):
                return b""

            self._raise(exc, "download", bucket, key)

    def get_range(self, bucket: str, key: str, start: int, end: int | None = None,
                  stream: bool = False) -> bytes | BinaryIO:
        """Bytes ``start`` up to ``end`` (excluded; None: to the end), read with one ranged request."""
        if end is not None and end <= start:
            data = b""
            if not stream:
                self.head_object(bucket, key)  # still an error for a missing object
        else:
            try:
                data = bytes(self._blob(bucket, key).download_as_bytes(
                    start=start, end=None if end is None else end - 1, timeout=self.timeout, retry=self.retry))
            except api_exceptions.RequestRangeNotSatisfiable:
                data = b""  # the range starts past the end of the object
            except api_exceptions.GoogleAPIError as exc:
                self._raise(exc, "ranged download", bucket, key)
        return io.BytesIO(data) if stream else data

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Size, modification time, etag and content type."""
        try:
            blob = self.client.bucket(bucket).get_blob(key, timeout=self.timeout, retry=self.retry)
        except api_exceptions.GoogleAPIError as exc:
            self._raise(exc, "metadata", bucket, key)
        if blob is None:
            self._raise(api_exceptions.NotFound("no such object"), "metadata", bucket, key)
        return {"content-length": str(blob.size or 0), "last-modified": blob.updated.isoformat() if blob.updated
                else "", "etag": str(blob.etag or blob.md5_hash or ""),
                "content-type": str(blob.content_type or "")}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a missing one is not an error)."""
        try:
            self._blob(bucket, key).delete(timeout=self.timeout, retry=self.retry)
        except api_exceptions.NotFound:
            return
        except api_exceptions.GoogleAPIError as exc:
            self._raise(exc, "delete", bucket, key)

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Delete many objects in batch requests of 100 deletions (missing objects are not an error)."""
        target = self.client.bucket(bucket)
        for start in range(0, len(key_list), BATCH_SIZE):
            try:
                with self.client.batch(raise_exception=False):
                    for key in key_list[start:start + BATCH_SIZE]:
                        target.delete_blob(key, timeout=self.timeout)
            except api_exceptions.GoogleAPIError as exc:
                self._raise(exc, "batch delete", bucket)

    # -- buckets ---------------------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """Bucket metadata, shaped as boto3's answer (as Lithops returns it)."""
        try:
            found = self.client.get_bucket(bucket, timeout=self.timeout, retry=self.retry)
        except api_exceptions.GoogleAPIError as exc:
            self._raise(exc, "bucket metadata", bucket)
        headers = {"x-goog-location": str(found.location or ""), "x-goog-storage-class": str(found.storage_class or "")}
        return {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": headers}, "Location": found.location}

    def create_bucket(self, bucket: str) -> None:
        """Create a bucket in the section's region (an existing bucket of this project is left alone)."""
        try:
            self.client.create_bucket(bucket, location=self.config.get("region"), timeout=self.timeout,
                                      retry=self.retry)
        except api_exceptions.Conflict:
            if not self._bucket_exists(bucket):
                raise ConfigError(f"bucket {bucket} belongs to another project (bucket names are global). Set "
                                  f"gcp_storage.storage_bucket to a name of your own.") from None
        except api_exceptions.GoogleAPIError as exc:
            self._raise(exc, "bucket creation", bucket)

    def list_objects(self, bucket: str, prefix: str | None = None,
                     match_pattern: str | None = None) -> list[dict[str, Any]]:
        """Objects whose key starts with ``prefix`` (and matches the glob), sorted by key."""
        import fnmatch

        try:
            blobs = list(self.client.list_blobs(bucket, prefix=prefix or None, timeout=self.timeout, retry=self.retry))
        except api_exceptions.GoogleAPIError as exc:
            self._raise(exc, "listing", bucket)
        return sorted(({"Key": b.name, "Size": int(b.size or 0), "LastModified": b.updated} for b in blobs
                       if match_pattern is None or fnmatch.fnmatch(b.name, match_pattern)), key=lambda o: o["Key"])

    def get_client(self) -> Any:
        """The google-cloud-storage client."""
        return self.client
