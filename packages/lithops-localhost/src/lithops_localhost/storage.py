"""The ``localhost`` storage backend: a bucket is a folder under ``storage_root``, a key a path inside it.

Writes go to a temporary file in the target folder and are renamed into place, so a reader never sees a torn
object and a crash leaves none. Keys that would leave the bucket folder (``..``, absolute paths) are refused.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import itertools
import os
import shutil
import threading
from collections.abc import Mapping
from typing import Any, BinaryIO

from lithops.backends.storage import StorageBackend
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError

_TMP_PREFIX = ".lithops-tmp-"
_CHUNK = 1024 * 1024
_tmp_counter = itertools.count()


def _copy_into(fd: int, body: BinaryIO) -> None:
    """Copy a readable body into ``fd``: in the kernel (sendfile) for real files, in 1 MiB blocks otherwise."""
    try:
        src = body.fileno()
        offset = body.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        src = -1
    if src >= 0:
        while (sent := os.sendfile(fd, src, offset, 1 << 30)) > 0:
            offset += sent
        body.seek(offset)
        return
    with open(fd, "wb", closefd=False) as out:
        shutil.copyfileobj(body, out, _CHUNK)


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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
        self._known_buckets: dict[str, str] = {}  # bucket -> folder, for buckets seen to exist
        os.makedirs(os.path.join(self.root, self.default_bucket()), exist_ok=True)

    def _bucket_dir(self, bucket: str, must_exist: bool = True) -> str:
        known = self._known_buckets.get(bucket)
        if known is not None:
            return known
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise ValueError(f"invalid bucket name {bucket!r}: use a plain name without '/'")
        path = os.path.join(self.root, bucket)
        if must_exist:
            if not os.path.isdir(path):
                raise StorageNoSuchBucketError(bucket)
            self._known_buckets[bucket] = path
        return path

    def _missing(self, bucket: str, key: str) -> Exception:
        """The error for a path that is not there: the key, or the whole bucket (which may have been removed)."""
        if not os.path.isdir(os.path.join(self.root, bucket)):
            self._known_buckets.pop(bucket, None)
            return StorageNoSuchBucketError(bucket)
        return StorageNoSuchKeyError(bucket, key)

    def _path(self, bucket: str, key: str) -> str:
        base = self._bucket_dir(bucket)
        if key and key[0] not in "./" and key[-1] != "/" and "/." not in key and "//" not in key:
            return f"{base}/{key}"  # a plain key: no segment can be '.', '..' or empty
        if not key or key.startswith("/") or key.endswith("/"):
            raise ValueError(f"invalid key {key!r}: keys are relative paths such as 'dir/name.txt'")
        path = os.path.normpath(os.path.join(base, key))
        if not path.startswith(base + os.sep) or any(p == ".." for p in key.split("/")):
            raise ValueError(f"invalid key {key!r}: it would point outside bucket {bucket!r}")
        return path

    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Write atomically (temporary file in the same folder, then rename)."""
        path = self._path(bucket, key)
        folder = os.path.dirname(path)
        tmp = os.path.join(folder, f"{_TMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{next(_tmp_counter)}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(tmp, flags, 0o666)
        except (FileNotFoundError, NotADirectoryError):
            try:
                os.makedirs(folder, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise ValueError(
                    f"cannot store key {key!r}: a part of it is already an object in bucket {bucket!r} "
                    f"(localhost storage keeps keys as paths)"
                ) from None
            fd = os.open(tmp, flags, 0o666)
        try:
            try:
                if isinstance(body, str):
                    _write_all(fd, body.encode())
                elif isinstance(body, (bytes, bytearray, memoryview)):
                    _write_all(fd, body)
                else:
                    _copy_into(fd, body)
            finally:
                os.close(fd)
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
            raise self._missing(bucket, key) from None
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

    def download_file(self, bucket: str, key: str, file_name: str | None = None) -> None:
        """Copy the object's file (in the kernel where the platform allows)."""
        target = file_name or key
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        try:
            shutil.copyfile(self._path(bucket, key), target)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            if os.path.exists(self._path(bucket, key)):
                raise  # the target folder is the problem
            raise self._missing(bucket, key) from None

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Size, modification time and an etag derived from them."""
        path = self._path(bucket, key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(bucket, key) from None
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
