"""The ``localhost`` storage backend: a bucket is a folder under ``storage_root``, a key a path inside it.

The root is private (see :mod:`lithops.private_files`): checked each time a backend is made, folders 0700,
objects 0600, and objects are never read or written through a link. A write goes to a temporary file with a
random name in the bucket's hidden ``.lithops-tmp`` folder and is renamed into place: a reader never sees a torn
object, and a writer that dies leaves nothing beside the keys (its temporary file is removed when a backend
next opens the bucket). Keys are checked before any file is touched (:func:`key_error`).
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import io
import os
import shutil
import stat
import time
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar

from lithops.backends.helpers import parse_byte_range, write_all
from lithops.backends.storage import StorageBackend
from lithops.local_state import pid_alive
from lithops.plugins.specs import ConfigKey
from lithops.private_files import DIR_MODE, FILE_FLAGS, FILE_MODE, private_dir
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops_localhost.plugin import STORAGE_CONFIG

#: Folder of each bucket that holds the temporary files of writes in progress.
TMP_DIR = ".lithops-tmp"
#: Key parts may not start with this: such names are the storage's own files.
RESERVED_PREFIX = ".lithops-"
#: Longest key, in bytes of UTF-8 (as in S3), and longest part between two '/' (a file name).
MAX_KEY_BYTES = 1024
MAX_PART_BYTES = 255
#: A temporary file is removed once untouched this long if its writer process is gone, and after a day anyway.
STALE_TMP_SEC = 60.0
ABANDONED_TMP_SEC = 86400.0
_CHUNK = 1024 * 1024
_RETRIES = 100  # a put whose folder keeps being removed by deletes in other processes gives up after this


def _parts_error(text: str, parts: list[str]) -> str | None:
    if "\0" in text:
        return "it holds a NUL character"
    size = len(os.fsencode(text))
    if size > MAX_KEY_BYTES:
        return f"it is {size} bytes long, over the limit of {MAX_KEY_BYTES} bytes (UTF-8), as in S3"
    for part in parts:
        if part == "..":
            return "a '..' part would point outside the bucket"
        if part in ("", "."):
            return "an empty or '.' part ('//' or '/./') would make it another name of the key without it"
        if part.startswith(RESERVED_PREFIX):
            return f"parts starting with {RESERVED_PREFIX!r} are reserved for the storage's temporary files"
        size = len(os.fsencode(part))
        if size > MAX_PART_BYTES:
            return (f"its part {part[:20]!r}... is {size} bytes long; each part between '/' is at most "
                    f"{MAX_PART_BYTES} bytes (it is a file name)")
    return None


def key_error(key: str) -> str | None:
    """What is wrong with ``key`` as a localhost key, or None. Keys are relative paths: not empty, no leading or
    trailing ``/``, no empty, ``.`` or ``..`` part, no part starting with ``.lithops-``, parts of at most 255
    bytes and at most 1024 bytes in all.
    """
    if not key:
        return "keys are relative paths such as 'dir/name.txt'"
    if key.startswith("/"):
        return "keys are relative paths such as 'dir/name.txt', without a leading '/'"
    if key.endswith("/"):
        return "a key ending in '/' names a folder (a prefix), not an object"
    return _parts_error(key, key.split("/"))


def prefix_error(prefix: str) -> str | None:
    """What is wrong with ``prefix`` as a listing prefix, or None: the rules of keys, except that it may be
    empty, end with ``/`` or end with part of a name.
    """
    if prefix.startswith("/"):
        return "prefixes are relative, like keys, without a leading '/'"
    folders, _, last = prefix.rpartition("/")
    if last == "..":
        return "a '..' part would point outside the bucket"
    return _parts_error(prefix, folders.split("/")) if folders else _parts_error(prefix, [])


def _plain(key: str) -> bool:
    """A key that passes :func:`key_error` at a glance (the common case, checked without splitting it)."""
    return (0 < len(key) <= MAX_PART_BYTES // 4 and key[0] not in "./" and key[-1] != "/" and "/." not in key
            and "//" not in key and "\0" not in key)


def _stale(pid: str, st: os.stat_result, now: float) -> bool:
    """Whether a temporary file written by process ``pid`` and last changed at ``st.st_mtime`` is abandoned."""
    age = now - st.st_mtime
    return age > ABANDONED_TMP_SEC or (age > STALE_TMP_SEC and not (pid.isdigit() and pid_alive(int(pid))))


def _open_nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | FILE_FLAGS)


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
    config_schema: ClassVar[Mapping[str, ConfigKey]] = STORAGE_CONFIG

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.root = self._checked_root()
        self._known_buckets: dict[str, str] = {}  # bucket -> folder, for buckets seen to exist
        self._bucket_dir(self.default_bucket(), create=True)

    def _checked_root(self) -> str:
        return private_dir(
            self.config["storage_root"], "The localhost storage root",
            "Stored objects must be private. Set localhost.storage_root in the config to a folder of your own.",
        )

    def _bucket_dir(self, bucket: str, create: bool = False) -> str:
        """The bucket's folder (made when ``create``); StorageNoSuchBucketError when it is not there."""
        known = self._known_buckets.get(bucket)
        if known is not None:
            return known
        if not bucket or "/" in bucket or bucket in (".", "..") or "\0" in bucket:
            raise ValueError(f"invalid bucket name {bucket!r}: use a plain name without '/'")
        path = os.path.join(self.root, bucket)
        if create:
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError:
                pass
            except FileNotFoundError:  # the root itself was removed: make it again, private
                self.root = self._checked_root()
                return self._bucket_dir(bucket, create)
        try:
            is_folder = stat.S_ISDIR(os.lstat(path).st_mode)
        except FileNotFoundError:
            is_folder = False
        if not is_folder:
            raise StorageNoSuchBucketError(bucket)
        self._known_buckets[bucket] = path
        self._remove_stale_temp_files(path)
        return path

    def _missing(self, bucket: str, key: str) -> Exception:
        """The error for a path that is not there: the key, or the whole bucket (which may have been removed)."""
        if not os.path.isdir(os.path.join(self.root, bucket)):
            self._known_buckets.pop(bucket, None)
            return StorageNoSuchBucketError(bucket)
        return StorageNoSuchKeyError(bucket, key)

    @staticmethod
    def _check_key(bucket: str, key: str) -> None:
        if not _plain(key):
            problem = key_error(key)
            if problem:
                raise ValueError(f"invalid key {key!r} for bucket {bucket!r}: {problem}")

    def _path(self, bucket: str, key: str) -> str:
        self._check_key(bucket, key)
        return f"{self._bucket_dir(bucket)}/{key}"

    # -- writes ----------------------------------------------------------------------------------------------
    def _remove_stale_temp_files(self, base: str) -> None:
        """Remove the temporary files of writers that died (see STALE_TMP_SEC)."""
        try:
            with os.scandir(os.path.join(base, TMP_DIR)) as entries:
                found = list(entries)
        except OSError:
            return
        now = time.time()
        for entry in found:
            try:
                if _stale(entry.name.partition("-")[0], entry.stat(follow_symlinks=False), now):
                    os.unlink(entry.path)
            except OSError:
                pass

    def _new_temp_file(self, bucket: str) -> tuple[str, int]:
        """A new temporary file (random name, created exclusively, mode 0600) in the bucket's temporary folder."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | FILE_FLAGS
        name = f"{os.getpid()}-{os.urandom(8).hex()}"
        tmp = f"{self._bucket_dir(bucket, create=True)}/{TMP_DIR}/{name}"
        try:
            return tmp, os.open(tmp, flags, FILE_MODE)
        except FileNotFoundError:  # the first write to the bucket, or the bucket was removed since
            self._known_buckets.pop(bucket, None)
        folder = f"{self._bucket_dir(bucket, create=True)}/{TMP_DIR}"
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass
        return f"{folder}/{name}", os.open(f"{folder}/{name}", flags, FILE_MODE)

    def _make_folders(self, base: str, bucket: str, key: str) -> None:
        """Make the folders of ``key`` (0700); returns early if a delete elsewhere removes one meanwhile."""
        folder = base
        for part in key.split("/")[:-1]:
            folder = f"{folder}/{part}"
            try:
                os.mkdir(folder, DIR_MODE)
            except FileNotFoundError:
                return  # a folder above was just removed as empty by a delete: the caller tries again
            except FileExistsError:
                try:
                    is_folder = stat.S_ISDIR(os.lstat(folder).st_mode)
                except FileNotFoundError:
                    return
                if not is_folder:
                    raise ValueError(
                        f"cannot store key {key!r}: {folder[len(base) + 1:]!r} is already an object in bucket "
                        f"{bucket!r} (localhost storage keeps keys as paths)"
                    ) from None

    def _place(self, tmp: str, path: str, base: str, bucket: str, key: str) -> None:
        """Rename the written temporary file to the key's path, making its folders as needed.

        Deletes in other processes remove folders they leave empty; a folder made here can go before the rename,
        so the rename is tried again (bounded).
        """
        for _ in range(_RETRIES):
            try:
                os.replace(tmp, path)
                return
            except FileNotFoundError:
                if not os.path.lexists(tmp):
                    raise
                self._make_folders(base, bucket, key)
            except IsADirectoryError:
                try:
                    os.rmdir(path)  # an empty folder (a writer died between making it and renaming) gives way
                except FileNotFoundError:
                    continue
                except OSError:
                    raise ValueError(
                        f"cannot store key {key!r}: it is a folder of other keys in bucket {bucket!r} "
                        f"(localhost storage keeps keys as paths, so {key!r} and {key + '/...'!r} cannot both "
                        f"exist); delete those keys or choose another key"
                    ) from None
            except NotADirectoryError:
                raise ValueError(
                    f"cannot store key {key!r}: a part of it is already an object in bucket {bucket!r} "
                    f"(localhost storage keeps keys as paths)"
                ) from None
        raise OSError(errno.EAGAIN, f"could not store key {key!r} in bucket {bucket!r}: its folder was removed "
                                    f"{_RETRIES} times by deletes in other processes; try again")

    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Write atomically (temporary file, then rename); a missing bucket is created, as in Lithops."""
        self._check_key(bucket, key)
        base = self._bucket_dir(bucket, create=True)
        tmp, fd = self._new_temp_file(bucket)
        try:
            try:
                if isinstance(body, str):
                    write_all(fd, body.encode())
                elif isinstance(body, (bytes, bytearray, memoryview)):
                    write_all(fd, body)
                else:
                    _copy_into(fd, body)
            finally:
                os.close(fd)
            self._place(tmp, f"{base}/{key}", base, bucket, key)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    # -- reads -----------------------------------------------------------------------------------------------
    def _open(self, bucket: str, key: str) -> BinaryIO:
        """The object's file, opened for reading without following a link; missing: the right error."""
        path = self._path(bucket, key)
        try:
            return open(path, "rb", opener=_open_nofollow)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP):
                raise self._missing(bucket, key) from None
            raise

    def get_object(
        self, bucket: str, key: str, stream: bool = False, extra_get_args: Mapping[str, Any] | None = None
    ) -> bytes | BinaryIO:
        """Read the object (or its ``Range``, the S3 form that :class:`lithops.Storage` passes on)."""
        rng = (extra_get_args or {}).get("Range")
        if rng:
            size = int(self.head_object(bucket, key)["content-length"])
            return self.get_range(bucket, key, *parse_byte_range(rng, size), stream=stream)
        f = self._open(bucket, key)
        if stream:
            return f
        with f:
            return f.read()

    def get_range(self, bucket: str, key: str, start: int, end: int | None = None,
                  stream: bool = False) -> bytes | BinaryIO:
        """Bytes ``start`` up to ``end`` (excluded; None: to the end) of the object's file, read from there."""
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"byte range {start}-{end} of {bucket}/{key}: start must be >= 0 and end >= start")
        f = self._open(bucket, key)
        size = os.fstat(f.fileno()).st_size
        start = min(start, size)
        end = size if end is None else min(end, size)
        f.seek(start)
        if stream:
            return io.BufferedReader(_RangeReader(f, end - start))  # type: ignore[return-value]
        with f:
            return f.read(end - start)

    def download_file(self, bucket: str, key: str, file_name: str | None = None) -> None:
        """Copy the object's file (in the kernel where the platform allows)."""
        target = file_name or key
        with self._open(bucket, key) as src:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            with open(target, "wb") as out:
                _copy_into(out.fileno(), src)

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Size, modification time and an etag derived from them."""
        path = self._path(bucket, key)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(bucket, key) from None
        if not stat.S_ISREG(st.st_mode):
            raise StorageNoSuchKeyError(bucket, key)
        etag = hashlib.md5(f"{st.st_size}-{st.st_mtime_ns}".encode(), usedforsecurity=False).hexdigest()
        return {"content-length": str(st.st_size), "last-modified": str(st.st_mtime), "etag": f'"{etag}"'}

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete the file and any folders it leaves empty (a put elsewhere that needs one makes it again)."""
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
            except OSError:  # not empty, or already removed by another delete
                break
            folder = os.path.dirname(folder)

    # -- buckets and listings --------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """The S3-shaped answer Lithops gives (``ResponseMetadata.HTTPStatusCode`` 200); the folder must exist."""
        self._known_buckets.pop(bucket, None)  # looked at afresh: it may have been removed
        self._bucket_dir(bucket)
        return {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}}}

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket folder."""
        self._bucket_dir(bucket, create=True)

    def list_objects(
        self, bucket: str, prefix: str | None = None, match_pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """Walk only the folders the prefix can reach; links are skipped."""
        base = self._bucket_dir(bucket)
        prefix = prefix or ""
        problem = prefix_error(prefix) if prefix else None
        if problem:
            raise ValueError(f"invalid prefix {prefix!r} for bucket {bucket!r}: {problem}")
        folder = prefix.rpartition("/")[0]
        found: list[dict[str, Any]] = []
        self._walk(f"{base}/{folder}" if folder else base, f"{folder}/" if folder else "", prefix, match_pattern,
                   found, time.time())
        found.sort(key=lambda o: o["Key"])
        return found

    def _walk(self, folder: str, rel: str, prefix: str, pattern: str | None, found: list[dict[str, Any]],
              now: float) -> None:
        try:
            with os.scandir(folder) as scan:
                entries = list(scan)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            key = rel + entry.name
            if entry.name.startswith(RESERVED_PREFIX):
                _remove_if_stale_legacy(entry, now)
            elif entry.is_dir(follow_symlinks=False):
                if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                    self._walk(entry.path, key + "/", prefix, pattern, found, now)
            elif (entry.is_file(follow_symlinks=False) and key.startswith(prefix)
                  and (not pattern or fnmatch.fnmatchcase(key, pattern))):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted meanwhile
                    continue
                found.append({"Key": key, "Size": st.st_size, "LastModified": st.st_mtime})


def _remove_if_stale_legacy(entry: os.DirEntry[str], now: float) -> None:
    """Earlier versions left a dead writer's ``.lithops-tmp-<pid>-...`` beside the keys: remove it once stale."""
    legacy = RESERVED_PREFIX + "tmp-"
    if entry.name.startswith(legacy) and entry.is_file(follow_symlinks=False):
        try:
            if _stale(entry.name[len(legacy):].partition("-")[0], entry.stat(follow_symlinks=False), now):
                os.unlink(entry.path)
        except OSError:
            pass
