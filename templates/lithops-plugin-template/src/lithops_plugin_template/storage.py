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
from typing import Any, BinaryIO

from lithops.backends.storage import StorageBackend
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError

_BUCKETS: dict[str, dict[str, tuple[bytes, float]]] = {}  # bucket -> key -> (body, modified)
_LOCK = threading.Lock()


def _read_body(body: bytes | str | BinaryIO) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    chunks = []
    while True:
        chunk = body.read(1024 * 1024)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """``bytes=a-b`` (b inclusive), ``bytes=a-`` or ``bytes=-n`` -> ``(start, end)`` with end exclusive."""
    spec = header.strip()
    if not spec.startswith("bytes="):
        raise ValueError(f"unsupported Range {header!r}: use bytes=a-b, bytes=a- or bytes=-n")
    first, _, last = spec[len("bytes="):].partition("-")
    if not first:
        return max(0, size - int(last)), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    return min(start, size), max(min(start, size), end)


class MemoryStorage(StorageBackend):
    """Objects kept in memory, shared by every instance in the process."""

    name = "template_storage"

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
        data = _read_body(body)
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
            start, end = _byte_range(header, len(data))
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
