"""``open`` and ``os`` over object storage, for code written against local files.

::

    from lithops.storage.cloud_proxy import open, os

    with open("/results/run1.txt", "w") as f:
        f.write("done")
    os.listdir("/results")          # ['run1.txt']

A path is a key in the storage's default bucket (a leading ``/`` is ignored). Folders are implicit, as in object
storage: a folder exists while some key lies under it; ``mkdir``/``makedirs`` succeed without writing anything.
Files opened for writing are spooled to a temporary file and uploaded when closed; a ``with`` block that ends
with an exception uploads nothing, so a failed write never replaces the stored object. Missing files raise
``FileNotFoundError``, as ``open`` and ``os`` do.
"""

from __future__ import annotations

import errno
import io
import posixpath
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from lithops.storage.storage import Storage
from lithops.storage.utils import StorageNoSuchKeyError


def _key(path: str) -> str:
    norm = posixpath.normpath("/" + str(path))
    return "" if norm == "/" else norm.lstrip("/")


def _not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "No such file or directory", path)


class CloudStorage(Storage):
    """The Storage that ``cloud_proxy`` uses (the configured one unless given another)."""


class _ReadAdapter(io.RawIOBase):
    """Makes any backend stream (a file, an HTTP body) a raw stream that io.BufferedReader accepts."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readable(self) -> bool:
        """Always True."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``."""
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close the backend stream."""
        self._stream.close()
        super().close()


class _Spool(io.BufferedRandom):
    """A temporary local file whose content is uploaded when it is closed.

    Not when a ``with`` block around it ended with an exception: then nothing is uploaded.
    """

    def __init__(self, upload: Callable[[BinaryIO], None]) -> None:
        super().__init__(tempfile.TemporaryFile(buffering=0))  # type: ignore[arg-type]
        self._upload: Callable[[BinaryIO], None] | None = upload

    def abort(self) -> None:
        """Close without uploading."""
        self._upload = None
        self.close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def close(self) -> None:
        """Upload the content, then close."""
        if self.closed:
            return
        try:
            if self._upload is not None:
                self.flush()
                self.seek(0)
                self._upload(self)
        finally:
            super().close()


class _SpoolText(io.TextIOWrapper):
    """Text mode over a :class:`_Spool`, with the same abort-on-exception rule."""

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.buffer.abort()  # type: ignore[attr-defined]
        self.close()


class _PathProxy:
    """``os.path`` over storage: queries go to storage, pure path functions come from ``posixpath``."""

    def __init__(self, proxy: CloudFileProxy) -> None:
        self._proxy = proxy

    def __getattr__(self, name: str) -> Any:
        return getattr(posixpath, name)

    def isfile(self, path: str) -> bool:
        """Whether an object with this key exists."""
        key = _key(path)
        if not key:
            return False
        try:
            self._proxy.storage.head_object(self._proxy.storage.bucket, key)
            return True
        except StorageNoSuchKeyError:
            return False

    def isdir(self, path: str) -> bool:
        """Whether some key lies under this folder (the root always exists)."""
        key = _key(path)
        return not key or bool(self._proxy.storage.list_keys(self._proxy.storage.bucket, key + "/"))

    def exists(self, path: str) -> bool:
        """Whether a file or folder exists at this path."""
        return self.isfile(path) or self.isdir(path)

    def getsize(self, path: str) -> int:
        """Size of the object in bytes."""
        try:
            meta = self._proxy.storage.head_object(self._proxy.storage.bucket, _key(path))
        except StorageNoSuchKeyError:
            raise _not_found(path) from None
        return int(meta["content-length"])


class CloudFileProxy:
    """The ``os`` of ``cloud_proxy``: file system calls that act on a storage bucket.

    Args:
        cloud_storage: the Storage to use; the configured one (created on first use) when None.
    """

    def __init__(self, cloud_storage: Storage | None = None) -> None:
        self._storage = cloud_storage
        self.path = _PathProxy(self)
        self.sep = "/"

    @property
    def storage(self) -> Storage:
        """The Storage this proxy acts on."""
        if self._storage is None:
            self._storage = CloudStorage()
        return self._storage

    def open(self, file: str, mode: str = "r", encoding: str | None = None, newline: str | None = None) -> Any:
        """Open a stored object like ``open``: modes r, w, a, x, with b (binary) and + (update)."""
        kind = mode.replace("b", "").replace("t", "").replace("+", "")
        if kind not in ("r", "w", "a", "x") or len(kind) != 1:
            raise ValueError(f"invalid mode: {mode!r}")
        key = _key(file)
        if not key:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", file)
        storage, bucket = self.storage, self.storage.bucket
        binary = "b" in mode
        if kind == "r" and "+" not in mode:
            try:
                stream = storage.get_object(bucket, key, stream=True)
            except StorageNoSuchKeyError:
                raise _not_found(file) from None
            reader = io.BufferedReader(_ReadAdapter(stream))  # type: ignore[arg-type]
            return reader if binary else io.TextIOWrapper(reader, encoding=encoding or "utf-8", newline=newline)
        if kind == "x" and self.path.isfile(file):
            raise FileExistsError(errno.EEXIST, "File exists", file)
        spool = _Spool(lambda body: storage.put_object(bucket, key, body))
        if kind in ("r", "a"):
            try:
                current = storage.get_object(bucket, key, stream=True)
            except StorageNoSuchKeyError:
                if kind == "r":
                    spool.detach().close()
                    raise _not_found(file) from None
            else:
                while block := current.read(1024 * 1024):  # type: ignore[union-attr]
                    spool.write(block)
                current.close()  # type: ignore[union-attr]
                if kind == "r":
                    spool.seek(0)
        return spool if binary else _SpoolText(spool, encoding=encoding or "utf-8", newline=newline)

    def listdir(self, path: str = "/") -> list[str]:
        """Names of the files and folders directly inside a folder."""
        prefix = _key(path)
        prefix = prefix + "/" if prefix else ""
        names = {k[len(prefix):].split("/", 1)[0] for k in self.storage.list_keys(self.storage.bucket, prefix)}
        if not names and prefix:
            raise _not_found(path)
        return sorted(names)

    def walk(self, top: str = "/", topdown: bool = True, onerror: Any = None,
             followlinks: bool = False) -> Iterator[tuple[str, list[str], list[str]]]:
        """Like ``os.walk``: ``(dirpath, dirnames, filenames)`` for the folder and every folder below."""
        root = _key(top)
        prefix = root + "/" if root else ""
        tree: dict[str, tuple[set[str], list[str]]] = {"": (set(), [])}
        for key in self.storage.list_keys(self.storage.bucket, prefix):
            parts = key[len(prefix):].split("/")
            for depth in range(len(parts) - 1):
                parent, child = "/".join(parts[:depth]), "/".join(parts[: depth + 1])
                tree.setdefault(child, (set(), []))
                tree.setdefault(parent, (set(), []))[0].add(parts[depth])
            tree.setdefault("/".join(parts[:-1]), (set(), []))[1].append(parts[-1])
        if prefix and tree == {"": (set(), [])}:
            return
        base = top.rstrip("/") or "/"
        order = sorted(tree, key=lambda d: (d.count("/") if d else -1, d))
        listing = [(posixpath.join(base, d) if d else base, sorted(tree[d][0]), sorted(tree[d][1])) for d in order]
        yield from (listing if topdown else reversed(listing))

    def remove(self, path: str) -> None:
        """Delete a file."""
        if not self.path.isfile(path):
            raise _not_found(path)
        self.storage.delete_object(self.storage.bucket, _key(path))

    unlink = remove

    def rename(self, src: str, dst: str) -> None:
        """Move a file (copy, then delete the source)."""
        try:
            body = self.storage.get_object(self.storage.bucket, _key(src), stream=True)
        except StorageNoSuchKeyError:
            raise _not_found(src) from None
        self.storage.put_object(self.storage.bucket, _key(dst), body)
        body.close()  # type: ignore[union-attr]
        self.storage.delete_object(self.storage.bucket, _key(src))

    replace = rename

    def mkdir(self, path: str, mode: int = 0o777) -> None:
        """Folders are implicit in object storage: nothing to create."""

    def makedirs(self, name: str, mode: int = 0o777, exist_ok: bool = False) -> None:
        """Folders are implicit in object storage: nothing to create."""

    def rmdir(self, path: str) -> None:
        """Succeeds for an empty (that is, implicit) folder; a folder with files raises OSError."""
        if self.path.isdir(path) and _key(path):
            raise OSError(errno.ENOTEMPTY, "Directory not empty", path)

    def removedirs(self, name: str) -> None:
        """Same as :meth:`rmdir` (folders are implicit)."""
        self.rmdir(name)

    def getcwd(self) -> str:
        """Always the bucket root."""
        return "/"


os = CloudFileProxy()


def open(file: str, mode: str = "r", encoding: str | None = None, newline: str | None = None) -> Any:
    """``open`` on the configured storage (see :meth:`CloudFileProxy.open`)."""
    return os.open(file, mode, encoding=encoding, newline=newline)


__all__ = ["CloudFileProxy", "CloudStorage", "open", "os"]
