"""The ``localhost`` storage backend: a bucket is a folder under ``storage_root``, a key a path inside it.

Writes go to a temporary file in the target folder and are renamed into place, so a reader never sees a torn
object and a crash leaves none. Keys that would leave the bucket folder (``..``, absolute paths) are refused.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any, BinaryIO

from lithops.backends.storage import StorageBackend
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError

_TMP_PREFIX = ".lithops-tmp-"
_CHUNK = 1024 * 1024


def parse_range(header: str, size: int) -> tuple[int, int]:
    """Turn ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` into a ``(start, end_exclusive)`` pair within ``size``."""
    unit, _, spec = header.partition("=")
    first, _, last = spec.strip().partition("-")
    if unit.strip() != "bytes" or (not first and not last) or "," in spec:
        raise ValueError(f"unsupported Range {header!r}: use 'bytes=START-END', 'bytes=START-' or 'bytes=-N'")
    if not first:
        return max(0, size - int(last)), size
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    return min(start, size), max(min(start, size), end)


class _RangeReader(io.RawIOBase):
    """A file object limited to ``length`` bytes from its current position."""

    def __init__(self, f: BinaryIO, length: int) -> None:
        self._f = f
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


class LocalhostStorage(StorageBackend):
    """Objects as files under ``storage_root/<bucket>/<key>``."""

    name = "localhost"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.root = os.path.abspath(os.path.expanduser(self.config["storage_root"]))
        os.makedirs(os.path.join(self.root, self.default_bucket()), exist_ok=True)

    def _bucket_dir(self, bucket: str, must_exist: bool = True) -> str:
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise ValueError(f"invalid bucket name {bucket!r}: use a plain name without '/'")
        path = os.path.join(self.root, bucket)
        if must_exist and not os.path.isdir(path):
            raise StorageNoSuchBucketError(bucket)
        return path

    def _path(self, bucket: str, key: str) -> str:
        base = self._bucket_dir(bucket)
        if not key or key.startswith("/") or key.endswith("/"):
            raise ValueError(f"invalid key {key!r}: keys are relative paths such as 'dir/name.txt'")
        path = os.path.normpath(os.path.join(base, key))
        if not path.startswith(base + os.sep) or any(p == ".." for p in key.split("/")):
            raise ValueError(f"invalid key {key!r}: it would point outside bucket {bucket!r}")
        return path

    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Write atomically (temporary file, then rename)."""
        path = self._path(bucket, key)
        folder = os.path.dirname(path)
        try:
            os.makedirs(folder, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ValueError(
                f"cannot store key {key!r}: a part of it is already an object in bucket {bucket!r} "
                f"(localhost storage keeps keys as paths)"
            ) from None
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(body, str):
                    f.write(body.encode())
                elif isinstance(body, (bytes, bytearray, memoryview)):
                    f.write(body)
                else:
                    shutil.copyfileobj(body, f, _CHUNK)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def get_object(
        self, bucket: str, key: str, stream: bool = False, extra_get_args: Mapping[str, Any] | None = None
    ) -> bytes | BinaryIO:
        """Read the object (or its ``Range``)."""
        path = self._path(bucket, key)
        try:
            f = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageNoSuchKeyError(bucket, key) from None
        rng = (extra_get_args or {}).get("Range")
        if rng:
            start, end = parse_range(rng, os.fstat(f.fileno()).st_size)
            f.seek(start)
            if stream:
                return io.BufferedReader(_RangeReader(f, end - start))  # type: ignore[return-value]
            with f:
                return f.read(end - start)
        if stream:
            return f
        with f:
            return f.read()

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Size, modification time and an etag derived from them."""
        path = self._path(bucket, key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise StorageNoSuchKeyError(bucket, key) from None
        if not os.path.isfile(path):
            raise StorageNoSuchKeyError(bucket, key)
        etag = hashlib.md5(f"{st.st_size}-{st.st_mtime_ns}".encode(), usedforsecurity=False).hexdigest()
        return {"content-length": str(st.st_size), "last-modified": str(st.st_mtime), "etag": f'"{etag}"'}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete the file and any folders it leaves empty."""
        path = self._path(bucket, key)
        try:
            os.unlink(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        base = self._bucket_dir(bucket)
        folder = os.path.dirname(path)
        while folder != base:
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """The bucket folder's path."""
        return {"bucket": bucket, "path": self._bucket_dir(bucket)}

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket folder."""
        os.makedirs(self._bucket_dir(bucket, must_exist=False), exist_ok=True)

    def list_objects(
        self, bucket: str, prefix: str | None = None, match_pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """Walk only the folder the prefix points into."""
        base = self._bucket_dir(bucket)
        prefix = prefix or ""
        start_dir = os.path.join(base, os.path.dirname(prefix)) if "/" in prefix else base
        found: list[dict[str, Any]] = []
        for folder, dirs, files in os.walk(start_dir):
            rel = os.path.relpath(folder, base)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirs[:] = [d for d in dirs if (rel + d + "/").startswith(prefix) or prefix.startswith(rel + d + "/")]
            for name in files:
                key = rel + name
                if name.startswith(_TMP_PREFIX) or not key.startswith(prefix):
                    continue
                if match_pattern and not fnmatch.fnmatchcase(key, match_pattern):
                    continue
                st = os.stat(os.path.join(folder, name))
                found.append({"Key": key, "Size": st.st_size, "LastModified": st.st_mtime})
        found.sort(key=lambda o: o["Key"])
        return found
