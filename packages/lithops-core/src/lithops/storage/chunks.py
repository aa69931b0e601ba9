"""What a data-map call receives as ``obj``: one chunk of an object, URL or local file, and its reader.

The client (:mod:`lithops.job.partitioner`) decides the byte ranges; the worker reads them. With a record
separator (``obj_newline``, a newline by default) a chunk yields exactly the records that *start* inside its byte
range: it skips the tail of a record begun in the previous chunk and reads past its end to finish its own last
record. So every record is read by exactly one chunk, whatever the chunk size.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

_BLOCK = 1024 * 1024

#: Opens bytes ``[start, end]`` (inclusive; ``end`` may be None for "to the end") as a binary stream.
RangeOpener = Callable[[int, "int | None"], BinaryIO]


def stream_start(start: int, newline: bytes | None) -> int:
    """Where the stream read for a chunk starting at ``start`` must begin (a separator may end just before it)."""
    return start if newline is None else max(0, start - len(newline))


class LineChunkReader(io.RawIOBase):
    """Reads the records of one chunk from a stream that starts at :func:`stream_start`.

    Two phases: *inside* returns bytes up to ``end``; *finishing* then returns bytes up to and including the
    next separator, unless the last byte returned inside was already the end of a separator.

    Args:
        raw: stream positioned at ``stream_start(start, newline)`` and running to the end of the object.
        start, end: the chunk's byte range (inclusive).
        newline: record separator, or None to read exactly ``[start, end]``.
    """

    def __init__(self, raw: BinaryIO, start: int, end: int, newline: bytes | None) -> None:
        self._raw = raw
        self._sep = newline
        self._end = end
        self._pos = stream_start(start, newline)  # offset of self._buf[0] in the object
        self._buf = b""
        self._tail = b""  # the last bytes returned, to tell whether a record ended exactly at `end`
        self._phase = "inside" if start <= end else "done"
        if start > 0 and self._phase == "inside" and newline is not None:
            self._drop_partial_record()

    def readable(self) -> bool:
        """Always True."""
        return True

    def _fill(self) -> bool:
        block = self._raw.read(_BLOCK)
        self._buf += block
        return bool(block)

    def _drop(self, n: int) -> None:
        while len(self._buf) < n and self._fill():
            pass
        self._buf = self._buf[n:]
        self._pos += n

    def _drop_partial_record(self) -> None:
        """Skip to just after the first separator found from the stream start: the first record we own."""
        assert self._sep is not None
        while (i := self._buf.find(self._sep)) < 0:
            keep = len(self._sep) - 1  # a separator may straddle two blocks
            self._pos += max(0, len(self._buf) - keep)
            self._buf = self._buf[len(self._buf) - keep:] if keep else b""
            if not self._fill():
                self._phase = "done"
                return
        self._drop(i + len(self._sep))
        if self._pos > self._end:
            self._phase = "done"  # no record starts inside this chunk

    def _take(self, n: int) -> bytes:
        out, self._buf = self._buf[:n], self._buf[n:]
        self._pos += n
        if self._sep:
            self._tail = (self._tail + out)[-len(self._sep):]
        return out

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with the next bytes of the chunk; 0 at its end."""
        data = self._read_some(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read_some(self, size: int) -> bytes:
        while self._phase != "done":
            if not self._buf and not self._fill():
                self._phase = "done"
                break
            if self._phase == "inside":
                inside = self._end + 1 - self._pos
                if inside > 0:
                    return self._take(min(size, inside, len(self._buf)))
                ended = self._sep is None or self._tail == self._sep
                self._phase = "done" if ended else "finishing"
                continue
            assert self._sep is not None
            # the separator may have begun in bytes already returned: search the tail too
            i = (self._tail + self._buf).find(self._sep)
            cut = i + len(self._sep) - len(self._tail) if i >= 0 else -1
            if 0 < cut <= size:
                self._phase = "done"
                return self._take(cut)
            return self._take(min(size, len(self._buf)))
        return b""

    def close(self) -> None:
        """Close the underlying stream."""
        self._raw.close()
        super().close()


class RawReader(io.RawIOBase):
    """Makes any backend stream (a file, an HTTP body) a raw stream that ``io.BufferedReader`` accepts."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def readable(self) -> bool:
        """Always True."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with the next bytes; 0 at the end."""
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close the underlying stream."""
        self._raw.close()
        super().close()


@dataclass
class ObjectChunk:
    """The ``obj`` argument of a data-map call.

    Attributes:
        backend: storage backend name for stored objects, ``"url"`` for URLs, ``"file"`` for local files.
        bucket, key: the stored object (storage chunks).
        url: the URL (URL chunks).
        path: the local file (file chunks).
        part: number of this chunk within its object, from 1 (as in Lithops); total_parts: chunks of the object.
        data_byte_range: ``(start, end)``, inclusive; for an object processed whole ``(0, size - 1)``, or None
            when its size is unknown (a URL served without a Content-Length).
        chunk_size: bytes of this chunk's range (records may extend past it).
        content_length: size of the whole object.
        newline: record separator honoured at chunk edges (None: raw byte ranges).
    """

    backend: str
    part: int
    total_parts: int
    data_byte_range: tuple[int, int] | None
    chunk_size: int
    content_length: int
    bucket: str | None = None
    key: str | None = None
    url: str | None = None
    path: str | None = None
    newline: str | None = "\n"
    backend_class: str | None = None

    def __post_init__(self) -> None:
        self._opener: RangeOpener | None = None
        self._stream: BinaryIO | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_opener"] = None
        state["_stream"] = None
        return state

    @property
    def name(self) -> str:
        """What the chunk comes from: the key, URL or path (the grouping key of ``obj_reduce_by_key``)."""
        return self.key or self.url or self.path or ""

    def bind(self, opener: RangeOpener) -> None:
        """Give the chunk the means to read its bytes (done by the worker before the call)."""
        self._opener = opener

    @property
    def data_stream(self) -> BinaryIO:
        """The chunk's bytes as a binary stream (records whole, when a separator is set)."""
        if self._stream is None:
            if self._opener is None:
                raise RuntimeError("this chunk is not bound to a storage; read it inside a Lithops call")
            if self.total_parts == 1 or self.data_byte_range is None:
                # a whole object: read to the end of the stream, whatever size was announced
                self._stream = io.BufferedReader(RawReader(self._opener(0, None)))  # type: ignore[arg-type]
                return self._stream
            start, end = self.data_byte_range
            sep = self.newline.encode() if isinstance(self.newline, str) else self.newline
            raw = self._opener(stream_start(start, sep), None)
            self._stream = io.BufferedReader(LineChunkReader(raw, start, end, sep))  # type: ignore[arg-type]
        return self._stream

    def __repr__(self) -> str:
        return (f"<ObjectChunk {self.backend} {self.name!r} part {self.part}/{self.total_parts} "
                f"bytes {self.data_byte_range}>")


def url_opener(url: str) -> RangeOpener:
    """Range reads of an HTTP(S) URL."""
    import urllib.request

    def open_range(start: int, end: int | None) -> BinaryIO:
        rng = f"bytes={start}-" if end is None else f"bytes={start}-{end}"
        request = urllib.request.Request(url, headers={"Range": rng})
        return urllib.request.urlopen(request, timeout=60)  # type: ignore[no-any-return]

    return open_range


def file_opener(path: str) -> RangeOpener:
    """Range reads of a local file."""

    def open_range(start: int, end: int | None) -> BinaryIO:
        f = open(path, "rb")
        f.seek(start)
        return f

    return open_range


def storage_opener(storage: Any, bucket: str, key: str) -> RangeOpener:
    """Range reads of a stored object through a StorageBackend."""

    def open_range(start: int, end: int | None) -> BinaryIO:
        body = storage.get_range(bucket, key, start, None if end is None else end + 1, stream=True)
        return body  # type: ignore[no-any-return]

    return open_range
