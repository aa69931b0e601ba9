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
``FileNotFoundError``, as ``open`` and ``os`` do; a folder without files lists as ``[]``, and Lithops's own
objects (top-level ``lithops.*`` folders) are not listed, and the ``os`` names it does not implement are the real
``os`` module's (``os.environ``, ``os.getpid`` ...), all as in Lithops.
``cloud_open(filename, mode, cloud_storage)`` opens a file on a given storage, and ``CloudStorage`` adds Lithops's
key-only methods (``put_data``, ``get_data``, ``delete_data``, ``list_bucket_keys``).
"""

from __future__ import annotations

import errno
import io
import os as _real_os
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO

from lithops.config import load_yaml_config
from lithops.storage.chunks import RawReader
from lithops.storage.storage import Storage
from lithops.storage.utils import StorageNoSuchKeyError


def _key(path: str) -> str:
    norm = posixpath.normpath("/" + str(path))
    return "" if norm == "/" else norm.lstrip("/")


def remove_lithops_keys(keys: Iterable[str]) -> list[str]:
    """``keys`` without Lithops's own objects: those in a top-level folder named ``lithops.*`` (job data,
    cloud objects), which ``os.listdir``, ``walk``, ``isdir`` and ``exists`` do not show (as in Lithops).
    """
    return [k for k in keys if not (k.startswith("lithops.") and "/" in k)]


def _not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "No such file or directory", path)


class CloudStorage(Storage):
    """The Storage that ``cloud_proxy`` uses (the configured one unless given another), with the key-only
    methods of Lithops 3.x (on its default bucket). It can be pickled: a copy rebuilds its client from the config.

    Args:
        config: a config file path, a full config dict (``{'lithops': ..., 'localhost': ...}``), a storage config
            (as ``get_storage_config()`` returns), or None for the configured storage.
    """

    def __init__(self, config: str | Mapping[str, Any] | None = None) -> None:
        if isinstance(config, str):
            config = load_yaml_config(config)
        if isinstance(config, Mapping) and "backend" in config and "lithops" not in config:
            super().__init__(storage_config=config)
        else:
            super().__init__(config=config)

    def __getstate__(self) -> dict[str, Any]:
        return self.storage_config

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state)  # type: ignore[misc]

    def put_data(self, key: str, data: bytes | str | BinaryIO) -> None:
        """Write an object in the default bucket."""
        self.put_object(self.bucket, key, data)

    def get_data(self, key: str) -> bytes:
        """Read an object of the default bucket (``StorageNoSuchKeyError`` if there is none)."""
        return self.get_object(self.bucket, key)  # type: ignore[return-value]

    def delete_data(self, key: str) -> None:
        """Delete an object of the default bucket."""
        self.delete_object(self.bucket, key)

    def list_bucket_keys(self, prefix: str | None = None) -> list[str]:
        """Keys of the default bucket (under ``prefix``)."""
        return self.list_keys(self.bucket, prefix)


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
        return not key or bool(remove_lithops_keys(self._proxy.storage.list_keys(self._proxy.storage.bucket,
                                                                                    key + "/")))

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

    def __getattr__(self, name: str) -> Any:
        """What this proxy does not implement is the real ``os`` module's (``environ``, ``getpid``, ...), as in
        Lithops, so that code importing this ``os`` keeps working.
        """
        return getattr(_real_os, name)

    @property
    def storage(self) -> Storage:
        """The Storage this proxy acts on."""
        if self._storage is None:
            self._storage = CloudStorage()
        return self._storage

    def open(self, filename: str, mode: str = "r", encoding: str | None = None, newline: str | None = None) -> Any:
        """Open a stored object like ``open``: modes r, w, a, x, with b (binary) and + (update)."""
        kind = mode.replace("b", "").replace("t", "").replace("+", "")
        if kind not in ("r", "w", "a", "x") or len(kind) != 1:
            raise ValueError(f"invalid mode: {mode!r}")
        key = _key(filename)
        if not key:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", filename)
        storage, bucket = self.storage, self.storage.bucket
        binary = "b" in mode
        if kind == "r" and "+" not in mode:
            try:
                stream = storage.get_object(bucket, key, stream=True)
            except StorageNoSuchKeyError:
                raise _not_found(filename) from None
            reader = io.BufferedReader(RawReader(stream))  # type: ignore[arg-type]
            return reader if binary else io.TextIOWrapper(reader, encoding=encoding or "utf-8", newline=newline)
        if kind == "x" and self.path.isfile(filename):
            raise FileExistsError(errno.EEXIST, "File exists", filename)
        spool = _Spool(lambda body: storage.put_object(bucket, key, body))
        if kind in ("r", "a"):
            try:
                current = storage.get_object(bucket, key, stream=True)
            except StorageNoSuchKeyError:
                if kind == "r":
                    spool.detach().close()
                    raise _not_found(filename) from None
            else:
                while block := current.read(1024 * 1024):  # type: ignore[union-attr]
                    spool.write(block)
                current.close()  # type: ignore[union-attr]
                if kind == "r":
                    spool.seek(0)
        return spool if binary else _SpoolText(spool, encoding=encoding or "utf-8", newline=newline)

    def listdir(self, path: str = "/", suffix_dirs: bool = False) -> list[str]:
        """Names of the files and folders directly inside a folder, folders ending in ``/`` with
        ``suffix_dirs``. A folder without files lists as ``[]`` (object storage keeps no empty folders, so an
        emptied folder and one never written to are the same); a file raises ``NotADirectoryError``.
        """
        prefix = _key(path)
        prefix = prefix + "/" if prefix else ""
        names = set()
        for key in remove_lithops_keys(self.storage.list_keys(self.storage.bucket, prefix)):
            name, sep, _ = key[len(prefix):].partition("/")
            names.add(name + sep if suffix_dirs else name)
        if not names and prefix and self.path.isfile(path):
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
        return sorted(names)

    def walk(self, top: str = "/", topdown: bool = True, onerror: Any = None,
             followlinks: bool = False) -> Iterator[tuple[str, list[str], list[str]]]:
        """Like ``os.walk``: ``(dirpath, dirnames, filenames)`` for the folder and every folder below."""
        root = _key(top)
        prefix = root + "/" if root else ""
        tree: dict[str, tuple[set[str], list[str]]] = {"": (set(), [])}
        for key in remove_lithops_keys(self.storage.list_keys(self.storage.bucket, prefix)):
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
        """Delete a file. As in Lithops (and object storage), deleting a file that does not exist is no error."""
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


def open(filename: str, mode: str = "r", encoding: str | None = None, newline: str | None = None) -> Any:
    """``open`` on the configured storage (see :meth:`CloudFileProxy.open`)."""
    return os.open(filename, mode, encoding=encoding, newline=newline)


def cloud_open(filename: str, mode: str = "r", cloud_storage: Storage | None = None) -> Any:
    """:meth:`CloudFileProxy.open` on ``cloud_storage`` (the configured storage when None)."""
    proxy = os if cloud_storage is None else CloudFileProxy(cloud_storage)
    return proxy.open(filename, mode)


__all__ = ["CloudFileProxy", "CloudStorage", "cloud_open", "open", "os", "remove_lithops_keys"]
