"""The ``template_storage`` storage backend: buckets of objects in this process's memory.

Every instance shares the same buckets, so the client and the workers (threads of the same process, each of
which builds its own instance from the import string) see the same objects. A real backend replaces the
dictionary operations by its object store's calls and keeps the same behaviour.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import threading
import time
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar

from lithops.backends.helpers import body_bytes, parse_byte_range
from lithops.backends.storage import StorageBackend
from lithops.plugins import ConfigKey
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError

from lithops_plugin_template.plugin import STORAGE_CONFIG

_BUCKETS: dict[str, dict[str, tuple[bytes, float]]] = {}  # bucket -> key -> (body, modified)
_LOCK = threading.Lock()


class MemoryStorage(StorageBackend):
    """Objects kept in memory, shared by every instance in the process."""

    name = "template_storage"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = STORAGE_CONFIG

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.create_bucket(self.default_bucket())

    def _bucket(self, bucket: str) -> dict[str, tuple[bytes, float]]:
        objects = _BUCKETS.get(bucket)
        if objects is None:
            raise StorageNoSuchBucketError(bucket)
        return objects

    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Store an object; readers see the old or the new body, never part of one."""
        data = body_bytes(body)
        with _LOCK:
            self._bucket(bucket)[key] = (data, time.time())

    def get_object(self, bucket: str, key: str, stream: bool = False,
                   extra_get_args: Mapping[str, Any] | None = None) -> bytes | BinaryIO:
        """The object's bytes (or a range of them), or a file object with ``stream=True``."""
        with _LOCK:
            found = self._bucket(bucket).get(key)
        if found is None:
            raise StorageNoSuchKeyError(bucket, key)
        data = found[0]
        header = (extra_get_args or {}).get("Range")
        if header:
            start, end = parse_byte_range(header, len(data))
            data = data[start:end]
        return io.BytesIO(data) if stream else data

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Size, modification time and an etag."""
        with _LOCK:
            found = self._bucket(bucket).get(key)
        if found is None:
            raise StorageNoSuchKeyError(bucket, key)
        data, modified = found
        return {"content-length": str(len(data)), "last-modified": str(modified),
                "etag": hashlib.md5(data, usedforsecurity=False).hexdigest()}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a missing one is not an error)."""
        with _LOCK:
            self._bucket(bucket).pop(key, None)

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """Bucket metadata, shaped as boto3's answer (as Lithops returns it)."""
        with _LOCK:
            objects = len(self._bucket(bucket))
        return {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}}, "objects": objects}

    def create_bucket(self, bucket: str) -> None:
        """Create a bucket; an existing one is left alone."""
        with _LOCK:
            _BUCKETS.setdefault(bucket, {})

    def list_objects(self, bucket: str, prefix: str | None = None,
                     match_pattern: str | None = None) -> list[dict[str, Any]]:
        """Objects whose key starts with ``prefix`` (and matches the glob), sorted by key."""
        with _LOCK:
            items = list(self._bucket(bucket).items())
        return [{"Key": key, "Size": len(data), "LastModified": modified}
                for key, (data, modified) in sorted(items)
                if key.startswith(prefix or "") and (match_pattern is None or fnmatch.fnmatch(key, match_pattern))]
