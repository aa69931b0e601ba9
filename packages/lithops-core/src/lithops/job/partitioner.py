"""Turns data-map inputs (stored objects, prefixes, buckets, URLs, local files) into one ``obj`` chunk per call.

Activated, as in Lithops, when the function declares a parameter named ``obj`` (or ``url``) and the inputs
name data as strings (alone, or under the ``obj``/``url`` key of a dict whose other keys are passed on):

* ``"bucket"`` (every object), ``"bucket/prefix/"`` (a trailing slash means prefix), ``"bucket/key"``, each
  optionally with a storage scheme: ``"s3://bucket/key"``, ``"localhost://bucket/prefix/"``;
* ``"http://..."``/``"https://..."`` URLs (split with ranged GETs; one that cannot serve ranges is processed
  whole, with a warning, as in Lithops);
* local paths ``/abs/path``, ``./rel``, ``~/x`` or ``file://...``, files or folders (localhost backend only).

Every input is checked before any call runs: a missing object, an empty prefix, a chunk size of 0 or a URL that
answers an error is a clear error. Chunks are numbered from 1 (``obj.part``), as in Lithops.
"""

from __future__ import annotations

import inspect
import math
import os
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from typing import Any

from lithops.errors import PartitionError
from lithops.plugins.known import KNOWN_URL_SCHEMES, providing_package
from lithops.plugins.manager import get_registry
from lithops.storage.chunks import ObjectChunk

DATA_PARAMS = ("obj", "url")
_LOCAL_PREFIXES = ("/", "./", "../", "~", "file://")


def data_param(func: Callable[..., Any]) -> str | None:
    """The reserved data parameter ``func`` declares (``obj`` or ``url``), if any."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    for name in DATA_PARAMS:
        if name in params:
            return name
    return None


def wants_partitioning(items: list[Any], param: str) -> bool:
    """Whether the inputs name data (strings) rather than carrying ready-made values."""
    def names_data(item: Any) -> bool:
        value = item.get(param) if isinstance(item, dict) else item
        return isinstance(value, str)

    return bool(items) and all(names_data(i) for i in items)


def _split(size: int, chunk_size: int | None, chunk_number: int | None) -> list[tuple[int, int] | None]:
    if not chunk_size and not chunk_number:
        return [None]
    if size == 0:
        return [(0, -1)]
    if chunk_number:
        chunk_size = math.ceil(size / chunk_number)
    assert chunk_size
    return [(start, min(size, start + chunk_size) - 1) for start in range(0, size, chunk_size)]


def _whole(size: int, **fields: Any) -> ObjectChunk:
    """The one chunk of an object processed whole; its byte range is the whole object, as in Lithops (None when
    the size is unknown: a URL answered without a Content-Length).
    """
    return ObjectChunk(part=1, total_parts=1, data_byte_range=(0, size - 1) if size else None, chunk_size=size,
                       content_length=size, newline=None, **fields)


class Partitioner:
    """Splits data-map inputs into chunks.

    Args:
        open_storage: returns a ``(Storage, backend class import string)`` for a storage backend name.
        default_storage: storage backend of bare ``bucket/key`` inputs.
        local_files: whether local paths are allowed (workers share this machine's file system).
        chunk_size: bytes per chunk, or None.
        chunk_number: chunks per object, or None.
        newline: record separator kept whole at chunk edges; None splits at exact byte offsets.
    """

    def __init__(
        self,
        open_storage: Callable[[str], tuple[Any, str]],
        default_storage: str,
        local_files: bool,
        chunk_size: int | None = None,
        chunk_number: int | None = None,
        newline: str | None = "\n",
    ) -> None:
        for name, value in (("obj_chunk_size", chunk_size), ("obj_chunk_number", chunk_number)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise PartitionError(f"{name} must be a positive whole number of bytes/chunks, got {value!r}.")
        if chunk_size and chunk_number:
            raise PartitionError("give obj_chunk_size or obj_chunk_number, not both.")
        self.open_storage = open_storage
        self.default_storage = default_storage
        self.local_files = local_files
        self.chunk_size = chunk_size
        self.chunk_number = chunk_number
        self.newline = newline

    def _chunks(self, size: int, **fields: Any) -> list[ObjectChunk]:
        ranges = _split(size, self.chunk_size, self.chunk_number)
        if len(ranges) == 1:
            return [_whole(size, **fields)]
        return [
            ObjectChunk(part=i, total_parts=len(ranges), data_byte_range=rng, chunk_size=rng[1] - rng[0] + 1,
                        content_length=size, newline=self.newline, **fields)
            for i, rng in enumerate((r for r in ranges if r is not None), start=1)
        ]

    def partition(self, name: str) -> list[ObjectChunk]:
        """All chunks of one input string."""
        if name.startswith(("http://", "https://")):
            return self._url(name)
        if name.startswith(_LOCAL_PREFIXES):
            return self._local(name)
        backend = self.default_storage
        scheme, sep, rest = name.partition("://")
        if sep:
            schemes = get_registry().url_schemes()
            if scheme not in schemes:
                known = KNOWN_URL_SCHEMES.get(scheme)
                package = providing_package("storage", known) if known else None
                hint = (f" {scheme}:// is read by storage backend '{known}' of {package}, which is not installed: "
                        f"pip install {package}." if package else "")
                raise PartitionError(
                    f"unknown scheme in {name!r}:{hint} Use one of {', '.join(s + '://' for s in sorted(schemes))}, "
                    f"http(s)://, file:// or a bare 'bucket/key'."
                )
            backend, name = schemes[scheme], rest
        return self._stored(backend, name)

    def _stored(self, backend: str, name: str) -> list[ObjectChunk]:
        storage, backend_class = self.open_storage(backend)
        bucket, _, key = name.partition("/")
        if not bucket:
            raise PartitionError(f"no bucket in data input {name!r}: write 'bucket/key' or 'bucket/prefix/'.")
        if key and not key.endswith("/"):
            meta = storage.head_object(bucket, key)  # raises StorageNoSuchKeyError naming the key
            objects = [(key, int(meta["content-length"]))]
        else:
            objects = [(o["Key"], int(o["Size"])) for o in storage.list_objects(bucket, key or None)
                       if not o["Key"].endswith("/")]
            if not objects:
                where = f"{backend}://{bucket}/{key}"
                raise PartitionError(f"no objects under {where}: check the bucket and prefix (list_keys shows "
                                     f"what exists).")
        chunks = []
        for obj_key, size in objects:
            chunks += self._chunks(size, backend=backend, backend_class=backend_class, bucket=bucket, key=obj_key)
        return chunks

    def _url(self, url: str) -> list[ObjectChunk]:
        request = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                ranged = response.status == 206
                if ranged:
                    total = response.headers.get("Content-Range", "").rpartition("/")[2]
                    size = int(total) if total.isdigit() else 0
                else:
                    size = int(response.headers.get("Content-Length") or 0)
        except urllib.error.HTTPError as exc:
            raise PartitionError(f"{url} answered HTTP {exc.code} {exc.reason}: check the URL.") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PartitionError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}.") from None
        if ranged:
            return self._chunks(size, backend="url", url=url)
        if self.chunk_size or self.chunk_number:
            warnings.warn(f"{url} does not serve byte ranges, so it is processed whole, in one call, instead of in "
                          f"chunks (as Lithops does).", UserWarning, stacklevel=6)
        return [_whole(size, backend="url", url=url)]

    def _local(self, name: str) -> list[ObjectChunk]:
        if not self.local_files:
            raise PartitionError(
                f"local path {name!r} can only be processed by the localhost backend, whose workers share this "
                f"machine's files. Upload it first (Storage.upload_file) and pass 'bucket/key'."
            )
        path = os.path.abspath(os.path.expanduser(name[len("file://"):] if name.startswith("file://") else name))
        if os.path.isdir(path):
            files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)
            if not files:
                raise PartitionError(f"folder {path} holds no files.")
        elif os.path.isfile(path):
            files = [path]
        else:
            raise PartitionError(f"no such file or folder: {path}.")
        chunks = []
        for file in files:
            chunks += self._chunks(os.path.getsize(file), backend="file", path=file)
        return chunks

    def expand(self, items: list[Any], param: str) -> list[dict[str, Any]]:
        """Replace each input by one call per chunk: ``{param: chunk, **other keys of the input}``."""
        calls = []
        for item in items:
            extra = dict(item) if isinstance(item, dict) else {}
            name = extra.pop(param) if extra else item
            for chunk in self.partition(name):
                calls.append({param: chunk, **extra})
        return calls
