"""The contract of a storage backend: the object operations :class:`lithops.Storage` is built on."""

from __future__ import annotations

import io
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar

from lithops.config import backend_settings
from lithops.errors import ConfigError
from lithops.plugins.specs import ConfigKey


class StorageBackend(ABC):
    """Base class of storage backends.

    Keys are plain strings; ``list_*`` take a plain prefix (not a folder). Missing objects raise
    :class:`lithops.storage.utils.StorageNoSuchKeyError`, missing buckets
    :class:`lithops.storage.utils.StorageNoSuchBucketError`.

    Args:
        config: the backend's config section. It is checked against :attr:`config_schema` and its defaults are
            filled in here, however the backend is built, so ``self.config[key]`` needs no fallback.

    Raises:
        ConfigError: a value of ``config`` is wrong, or a required key is missing.
    """

    #: Name of the config section and of the backend (set by subclasses).
    name: str = ""
    #: The schema of the config section: the same mapping as its spec's ``config`` (the plugin contract checks it).
    config_schema: ClassVar[Mapping[str, ConfigKey]] = {}

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = backend_settings(self.name or type(self).__name__, config, self.config_schema)

    def default_bucket(self) -> str:
        """The bucket used when none is given (``storage_bucket`` of the config section)."""
        bucket = self.config.get("storage_bucket")
        if not bucket:
            raise ConfigError(
                f"no bucket configured for storage backend '{self.name}'. Set {self.name}.storage_bucket "
                f"in the config."
            )
        return str(bucket)

    @abstractmethod
    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Write an object; ``body`` may be bytes, text (UTF-8) or a readable binary file (streamed)."""

    @abstractmethod
    def get_object(
        self, bucket: str, key: str, stream: bool = False, extra_get_args: Mapping[str, Any] | None = None
    ) -> bytes | BinaryIO:
        """Read an object, or a byte range of it with ``extra_get_args={'Range': 'bytes=a-b'}``.

        With ``stream=True`` return a readable binary file object instead of bytes.
        """

    def get_range(self, bucket: str, key: str, start: int, end: int | None = None,
                  stream: bool = False) -> bytes | BinaryIO:
        """Bytes ``start`` up to ``end`` of an object (``end`` excluded, as in a slice; None: to the end); an
        ``end`` past the end of the object is cut short there.

        With ``stream=True`` return a readable binary file object instead of bytes. What the kernel reads
        ranges with (call data, data-map chunks). The default asks :meth:`get_object` for an HTTP ``Range``;
        override it when the store reads ranges more directly.
        """
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"byte range {start}-{end} of {bucket}/{key}: start must be >= 0 and end >= start")
        if end == start:
            return io.BytesIO(b"") if stream else b""
        header = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        return self.get_object(bucket, key, stream=stream, extra_get_args={"Range": header})

    @abstractmethod
    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Metadata of an object: at least ``content-length``, ``last-modified`` and ``etag`` (lower case)."""

    @abstractmethod
    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object; deleting a missing one is not an error."""

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Delete several objects."""
        for key in key_list:
            self.delete_object(bucket, key)

    @abstractmethod
    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """Metadata of a bucket shaped as boto3's ``head_bucket`` answer (what Lithops returns):
        ``{'ResponseMetadata': {'HTTPStatusCode': 200, 'HTTPHeaders': {...}}, ...}``; raises
        StorageNoSuchBucketError when it does not exist.
        """

    @abstractmethod
    def create_bucket(self, bucket: str) -> None:
        """Create a bucket; an existing one is left as it is."""

    @abstractmethod
    def list_objects(
        self, bucket: str, prefix: str | None = None, match_pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects whose key starts with ``prefix``: ``[{'Key', 'Size', 'LastModified'}]``, sorted by key.

        ``match_pattern`` is a glob (``fnmatch``) that keys must also match.
        """

    def list_keys(self, bucket: str, prefix: str | None = None) -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        return [obj["Key"] for obj in self.list_objects(bucket, prefix)]

    def upload_file(self, file_name: str, bucket: str, key: str | None = None) -> None:
        """Upload a local file, streamed."""
        with open(file_name, "rb") as f:
            self.put_object(bucket, key or os.path.basename(file_name), f)

    def download_file(self, bucket: str, key: str, file_name: str | None = None) -> None:
        """Download an object into a local file, streamed."""
        target = file_name or key
        folder = os.path.dirname(os.path.abspath(target))
        os.makedirs(folder, exist_ok=True)
        body = self.get_object(bucket, key, stream=True)
        assert not isinstance(body, bytes)
        with open(target, "wb") as f:
            shutil.copyfileobj(body, f, 1024 * 1024)
        body.close()

    def get_client(self) -> Any:
        """The underlying client object (an SDK client for cloud backends; the backend itself otherwise)."""
        return self
