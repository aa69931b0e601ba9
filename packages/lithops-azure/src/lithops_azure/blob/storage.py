"""The ``azure_storage`` backend: objects in Azure Blob Storage containers (Lithops' buckets).

Uploads up to ``max_single_put_size`` are one request; larger ones and streams are staged as blocks and committed
at the end, so a reader never sees part of an object.
"""

from __future__ import annotations

import fnmatch
import io
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, ClassVar

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ExponentialRetry

from lithops.backends.helpers import body_bytes
from lithops.backends.storage import StorageBackend
from lithops.plugins.specs import ConfigKey
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops_azure.auth import AZURE_ERRORS, account_name, blob_service, error_code, translate
from lithops_azure.plugin import STORAGE_CONFIG

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Stream(io.RawIOBase):
    """A readable binary file over a blob download (read in the SDK's chunks)."""

    def __init__(self, downloader: Any) -> None:
        self._chunks = downloader.chunks()
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class AzureBlobStorage(StorageBackend):
    """Objects in Azure Blob Storage.

    Args:
        config: the ``azure_storage`` section (see ``lithops_azure.plugin.STORAGE_CONFIG``).
    """

    name = "azure_storage"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = STORAGE_CONFIG

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.service = blob_service(
            self.config, max_single_put_size=int(self.config["max_single_put_size"]),
            max_block_size=int(self.config["max_block_size"]),
            connection_timeout=float(self.config["connection_timeout"]),
            read_timeout=float(self.config["read_timeout"]),
            retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2,
                                          retry_total=int(self.config["max_attempts"]) - 1))
        self.concurrency = int(self.config["max_concurrency"])
        self._bucket_checked = False

    def default_bucket(self) -> str:
        """``storage_bucket``, else ``lithops-<account>`` (lower case); created when absent (checked once)."""
        bucket = self.config.get("storage_bucket")
        if not bucket:
            bucket = re.sub(r"[^a-z0-9-]", "-", f"lithops-{account_name(self.config).lower()}")[:63]
            self.config["storage_bucket"] = bucket
        if not self._bucket_checked:
            self.create_bucket(str(bucket))
            self._bucket_checked = True
        return str(bucket)

    # -- errors ----------------------------------------------------------------------------------------------
    def _raise(self, exc: Exception, what: str, bucket: str, key: str | None = None) -> None:
        code = error_code(exc)
        if code == "ContainerNotFound":
            raise StorageNoSuchBucketError(bucket) from None
        if key is not None and (code == "BlobNotFound" or isinstance(exc, ResourceNotFoundError)):
            raise StorageNoSuchKeyError(bucket, key) from None
        new = translate(exc, f"Azure Blob {what} of az://{bucket}/{key or ''}")
        if new is exc:
            raise exc
        raise new from exc

    def _blob(self, bucket: str, key: str) -> Any:
        return self.service.get_blob_client(bucket, key)

    # -- objects ---------------------------------------------------------------------------------------------
    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Write a blob (overwriting); large bodies and streams go as blocks committed at the end."""
        data: Any = body_bytes(body) if isinstance(body, (bytes, bytearray, memoryview, str)) else body
        try:
            self._blob(bucket, key).upload_blob(data, overwrite=True, max_concurrency=self.concurrency)
        except AZURE_ERRORS as exc:
            self._raise(exc, "put", bucket, None)

    def _download(self, bucket: str, key: str, offset: int | None, length: int | None) -> Any:
        return self._blob(bucket, key).download_blob(offset=offset, length=length, max_concurrency=self.concurrency)

    def get_object(self, bucket: str, key: str, stream: bool = False,
                   extra_get_args: Mapping[str, Any] | None = None) -> bytes | BinaryIO:
        """Read a blob, or ``extra_get_args={'Range': 'bytes=a-b'}`` of it; a file object with ``stream``."""
        offset = length = None
        header = (extra_get_args or {}).get("Range")
        if header:
            match = _RANGE.match(str(header).strip())
            if not match or not (match.group(1) or match.group(2)):
                raise ValueError(f"unsupported Range {header!r}: use bytes=a-b, bytes=a- or bytes=-n")
            first, last = match.group(1), match.group(2)
            if not first:  # the last n bytes
                size = int(self.head_object(bucket, key)["content-length"])
                offset, length = max(0, size - int(last)), min(size, int(last))
            else:
                offset = int(first)
                length = int(last) - offset + 1 if last else None
            if length == 0:
                return io.BytesIO(b"") if stream else b""
        try:
            downloader = self._download(bucket, key, offset, length)
        except AZURE_ERRORS as exc:
            if getattr(exc, "status_code", None) == 416:  # the range starts past the end
                return io.BytesIO(b"") if stream else b""
            self._raise(exc, "get", bucket, key)
            raise
        if stream:
            return io.BufferedReader(_Stream(downloader))
        return bytes(downloader.readall())

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """``content-length``, ``last-modified``, ``etag`` and ``content-type`` of a blob."""
        try:
            props = self._blob(bucket, key).get_blob_properties()
        except AZURE_ERRORS as exc:
            if getattr(exc, "status_code", None) == 404:
                raise StorageNoSuchKeyError(bucket, key) from None
            self._raise(exc, "head", bucket, key)
            raise
        return {"content-length": str(props.size), "last-modified": str(props.last_modified),
                "etag": str(props.etag or "").strip('"'),
                "content-type": str(props.content_settings.content_type or "")}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete a blob (a missing one is no error)."""
        try:
            self._blob(bucket, key).delete_blob()
        except ResourceNotFoundError:
            return
        except AZURE_ERRORS as exc:
            self._raise(exc, "delete", bucket, None)

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Delete blobs, several requests at once."""
        with ThreadPoolExecutor(max(1, min(16, len(key_list)))) as pool:
            list(pool.map(lambda key: self.delete_object(bucket, key), key_list))

    # -- buckets (containers) --------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """The container's properties, shaped as boto3's head_bucket answer (as Lithops returns it)."""
        try:
            props = self.service.get_container_client(bucket).get_container_properties()
        except AZURE_ERRORS as exc:
            if getattr(exc, "status_code", None) == 404:
                raise StorageNoSuchBucketError(bucket) from None
            self._raise(exc, "head container", bucket)
            raise
        headers = {"last-modified": str(props.last_modified), "etag": str(props.etag or "").strip('"')}
        return {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": headers}, "Name": bucket}

    def create_bucket(self, bucket: str) -> None:
        """Create the container; an existing one is left as it is."""
        try:
            self.service.create_container(bucket)
        except ResourceExistsError:
            return
        except AZURE_ERRORS as exc:
            self._raise(exc, "create container", bucket)

    def list_objects(self, bucket: str, prefix: str | None = None,
                     match_pattern: str | None = None) -> list[dict[str, Any]]:
        """Blobs whose name starts with ``prefix`` (and matches the glob ``match_pattern``), sorted by name."""
        try:
            blobs = list(self.service.get_container_client(bucket).list_blobs(name_starts_with=prefix or None))
        except AZURE_ERRORS as exc:
            if getattr(exc, "status_code", None) == 404:
                raise StorageNoSuchBucketError(bucket) from None
            self._raise(exc, "list", bucket)
            raise
        found = [{"Key": b.name, "Size": b.size, "LastModified": b.last_modified} for b in blobs
                 if match_pattern is None or fnmatch.fnmatch(b.name, match_pattern)]
        return sorted(found, key=lambda o: o["Key"])

    def get_client(self) -> Any:
        """The ``BlobServiceClient``."""
        return self.service
