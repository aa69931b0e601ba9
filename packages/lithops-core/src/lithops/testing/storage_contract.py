"""The storage contract: what every :class:`lithops.backends.storage.StorageBackend` must do."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from typing import Any, ClassVar

import pytest

from lithops.backends.storage import StorageBackend
from lithops.job.partitioner import Partitioner
from lithops.storage.chunks import storage_opener
from lithops.storage.storage import Storage
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops.testing._common import ContractSuite, bounded_join

#: A missing bucket's name (no backend should have it).
MISSING_BUCKET = "lithops-no-such-bucket-4242"


class _SlowBody(io.RawIOBase):
    """A readable binary file that hands out ``data`` in small pieces, slowly: a put from it takes a while."""

    def __init__(self, data: bytes, piece: int = 64 * 1024, pause: float = 0.01) -> None:
        self._data, self._pos, self._piece, self._pause = data, 0, piece, pause

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._piece, len(self._data) - self._pos)
        if n > 0:
            time.sleep(self._pause)
            buffer[:n] = self._data[self._pos:self._pos + n]
            self._pos += n
        return max(n, 0)


class StorageContract(ContractSuite):
    """Subclass with fixtures ``storage`` (a StorageBackend) and ``bucket`` (an existing empty bucket).

    Capabilities that may be listed in ``skip_capabilities`` (another name is an error):
        ``create_bucket``: the backend cannot create buckets (the test of ``create_bucket`` is skipped).
    """

    capabilities: ClassVar[dict[str, str]] = {"create_bucket": "the backend cannot create buckets"}

    def test_is_a_storage_backend(self, storage: Any) -> None:
        assert isinstance(storage, StorageBackend)

    def test_put_get_bytes_text_and_file(self, storage: StorageBackend, bucket: str) -> None:
        storage.put_object(bucket, "k/bytes", b"\x00\x01binary")
        storage.put_object(bucket, "k/text", "héllo")
        storage.put_object(bucket, "k/file", io.BytesIO(b"from a file"))
        assert storage.get_object(bucket, "k/bytes") == b"\x00\x01binary"
        assert storage.get_object(bucket, "k/text") == "héllo".encode()
        assert storage.get_object(bucket, "k/file") == b"from a file"

    def test_overwrite_replaces(self, storage: StorageBackend, bucket: str) -> None:
        storage.put_object(bucket, "over", b"first version, longer")
        storage.put_object(bucket, "over", b"second")
        assert storage.get_object(bucket, "over") == b"second"

    def test_empty_object(self, storage: StorageBackend, bucket: str) -> None:
        storage.put_object(bucket, "empty", b"")
        assert storage.get_object(bucket, "empty") == b""
        assert storage.head_object(bucket, "empty")["content-length"] == "0"

    def test_missing_key_raises(self, storage: StorageBackend, bucket: str) -> None:
        with pytest.raises(StorageNoSuchKeyError):
            storage.get_object(bucket, "does/not/exist")
        with pytest.raises(StorageNoSuchKeyError):
            storage.head_object(bucket, "does/not/exist")

    def test_stream(self, storage: StorageBackend, bucket: str) -> None:
        data = os.urandom(300_000)
        storage.put_object(bucket, "streamed", data)
        body = storage.get_object(bucket, "streamed", stream=True)
        assert not isinstance(body, bytes)
        chunks = []
        while True:
            chunk = body.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
        body.close()
        assert b"".join(chunks) == data

    @pytest.mark.parametrize(
        ("header", "expected"),
        [("bytes=0-4", b"01234"), ("bytes=5-9", b"56789"), ("bytes=10-", b"abcdef"), ("bytes=-3", b"def"),
         ("bytes=14-100", b"ef")],
    )
    def test_range(self, storage: StorageBackend, bucket: str, header: str, expected: bytes) -> None:
        storage.put_object(bucket, "ranged", b"0123456789abcdef")
        assert storage.get_object(bucket, "ranged", extra_get_args={"Range": header}) == expected

    def test_range_stream(self, storage: StorageBackend, bucket: str) -> None:
        storage.put_object(bucket, "ranged", b"0123456789abcdef")
        body = storage.get_object(bucket, "ranged", stream=True, extra_get_args={"Range": "bytes=3-6"})
        assert not isinstance(body, bytes)
        assert body.read() == b"3456"
        body.close()

    @pytest.mark.parametrize(
        ("start", "end", "expected"),
        [(0, 5, b"01234"), (5, 10, b"56789"), (10, None, b"abcdef"), (14, 100, b"ef"), (7, 7, b"")],
    )
    def test_get_range(self, storage: StorageBackend, bucket: str, start: int, end: int | None,
                       expected: bytes) -> None:
        storage.put_object(bucket, "ranged", b"0123456789abcdef")
        assert storage.get_range(bucket, "ranged", start, end) == expected
        body = storage.get_range(bucket, "ranged", start, end, stream=True)
        assert not isinstance(body, bytes)
        assert body.read() == expected
        body.close()

    def test_get_range_of_a_missing_key(self, storage: StorageBackend, bucket: str) -> None:
        with pytest.raises(StorageNoSuchKeyError):
            storage.get_range(bucket, "no-such-key", 0, 4)

    def test_head_object(self, storage: StorageBackend, bucket: str) -> None:
        storage.put_object(bucket, "headed", b"x" * 1234)
        meta = storage.head_object(bucket, "headed")
        assert meta["content-length"] == "1234"
        assert "etag" in meta and "last-modified" in meta

    def test_delete(self, storage: StorageBackend, bucket: str) -> None:
        storage.put_object(bucket, "gone", b"1")
        storage.delete_object(bucket, "gone")
        with pytest.raises(StorageNoSuchKeyError):
            storage.get_object(bucket, "gone")
        storage.delete_object(bucket, "gone")  # deleting a missing object is not an error

    def test_delete_objects(self, storage: StorageBackend, bucket: str) -> None:
        keys = [f"many/{i}" for i in range(25)]
        for k in keys:
            storage.put_object(bucket, k, b"v")
        storage.delete_objects(bucket, keys)
        assert storage.list_keys(bucket, "many/") == []

    def test_list_prefix_is_a_plain_prefix(self, storage: StorageBackend, bucket: str) -> None:
        for k in ["database.txt", "data/sub/c.txt", "other/d.txt", "data/b.txt", "data/a.txt"]:  # not in order
            storage.put_object(bucket, k, k.encode())
        assert storage.list_keys(bucket, "data/") == ["data/a.txt", "data/b.txt", "data/sub/c.txt"]
        assert storage.list_keys(bucket, "data") == ["data/a.txt", "data/b.txt", "data/sub/c.txt", "database.txt"]
        assert storage.list_keys(bucket, "data/s") == ["data/sub/c.txt"]
        assert storage.list_keys(bucket, "nothing/") == []
        assert set(storage.list_keys(bucket)) >= {"database.txt", "other/d.txt"}

    def test_list_objects_sizes_and_pattern(self, storage: StorageBackend, bucket: str) -> None:
        storage.put_object(bucket, "sized/one.csv", b"1")
        storage.put_object(bucket, "sized/two.txt", b"22")
        objs = storage.list_objects(bucket, "sized/")
        assert [(o["Key"], o["Size"]) for o in objs] == [("sized/one.csv", 1), ("sized/two.txt", 2)]
        assert all("LastModified" in o for o in objs)
        matched = storage.list_objects(bucket, "sized/", match_pattern="*.csv")
        assert [o["Key"] for o in matched] == ["sized/one.csv"]

    def test_missing_bucket(self, storage: StorageBackend) -> None:
        with pytest.raises(StorageNoSuchBucketError):
            storage.head_bucket(MISSING_BUCKET)

    def test_listing_a_missing_bucket_raises(self, storage: StorageBackend) -> None:
        # an empty answer would let a misspelt bucket look empty: 'lithops storage list' and data maps rely on it
        with pytest.raises(StorageNoSuchBucketError):
            storage.list_objects(MISSING_BUCKET)
        with pytest.raises(StorageNoSuchBucketError):
            storage.list_keys(MISSING_BUCKET, "some/")

    def test_sizes_are_bytes(self, storage: StorageBackend, bucket: str) -> None:
        text = "naïve façade ✓ 日本語"  # 18 characters, 29 bytes in UTF-8
        size = len(text.encode("utf-8"))
        storage.put_object(bucket, "sized/text", text)
        assert storage.get_object(bucket, "sized/text") == text.encode("utf-8")
        length = storage.head_object(bucket, "sized/text")["content-length"]
        assert length == str(size), f"head_object: content-length {length}, the object has {size} bytes"
        listed = [(o["Key"], o["Size"]) for o in storage.list_objects(bucket, "sized/")]
        assert listed == [("sized/text", size)], f"list_objects sizes {listed}, the object has {size} bytes"
        tail = storage.get_object(bucket, "sized/text", extra_get_args={"Range": f"bytes={size - 3}-"})
        assert tail == "語".encode(), f"the last 3 bytes read back as {tail!r}"

    def test_put_is_atomic(self, storage: StorageBackend, bucket: str) -> None:
        """Readers see the old object or the new one whole, never part of a put that is in progress."""
        size = 1024 * 1024
        old, new = b"o" * size, b"n" * size
        storage.put_object(bucket, "atomic/replaced", old)
        errors: list[BaseException] = []

        def slow_puts() -> None:
            try:
                storage.put_object(bucket, "atomic/replaced", _SlowBody(new))  # type: ignore[arg-type]
                storage.put_object(bucket, "atomic/created", _SlowBody(new))  # type: ignore[arg-type]
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(target=slow_puts, name="contract-slow-put", daemon=True)
        writer.start()
        while writer.is_alive():
            got = storage.get_object(bucket, "atomic/replaced")
            assert isinstance(got, bytes)
            assert got in (old, new), f"a reader saw {len(got)} bytes of a {size}-byte put in progress"
            try:
                created = storage.get_object(bucket, "atomic/created")
            except StorageNoSuchKeyError:
                created = b"(missing)"
            assert isinstance(created, bytes)
            assert created in (b"(missing)", new), f"a reader saw {len(created)} bytes of a new {size}-byte object"
        bounded_join(writer, 60, "put_object from a slow file")
        assert not errors, f"put_object from a file raised {errors[0]!r}"
        assert storage.get_object(bucket, "atomic/replaced") == new
        assert storage.get_object(bucket, "atomic/created") == new

    def test_head_and_create_bucket(self, storage: StorageBackend, bucket: str) -> None:
        for meta in (storage.head_bucket(bucket), Storage.from_handler(storage, bucket).head_bucket(bucket)):
            # shaped as boto3's answer, as Lithops returns it on every backend
            assert meta["ResponseMetadata"]["HTTPStatusCode"] == 200
            assert isinstance(meta["ResponseMetadata"]["HTTPHeaders"], dict)
        self._skip_unless("create_bucket")
        storage.create_bucket("lithops-contract-new")
        storage.create_bucket("lithops-contract-new")  # existing: no error
        storage.put_object("lithops-contract-new", "k", b"v")
        assert storage.get_object("lithops-contract-new", "k") == b"v"
        storage.delete_object("lithops-contract-new", "k")

    def test_upload_and_download_file(self, storage: StorageBackend, bucket: str, tmp_path: Any) -> None:
        src = tmp_path / "big.bin"
        data = os.urandom(6 * 1024 * 1024 + 123)
        src.write_bytes(data)
        storage.upload_file(str(src), bucket, "files/big.bin")
        assert storage.head_object(bucket, "files/big.bin")["content-length"] == str(len(data))
        dst = tmp_path / "out" / "big.bin"
        storage.download_file(bucket, "files/big.bin", str(dst))
        assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()

    def test_through_storage_facade(self, storage: StorageBackend, bucket: str) -> None:
        facade = Storage.from_handler(storage, bucket)
        co = facade.put_cloudobject(b"cloud object body")
        assert facade.get_cloudobject(co) == b"cloud object body"
        facade.delete_cloudobject(co)
        with pytest.raises(StorageNoSuchKeyError):
            facade.get_cloudobject(co)

    @pytest.mark.parametrize("chunk_size", [1, 5, 64, 10_000])
    def test_data_map_chunks_read_every_record_once(
        self, storage: StorageBackend, bucket: str, chunk_size: int
    ) -> None:
        # one ranged read per chunk: few records when chunks are tiny, so remote backends stay quick
        records = [f"record {i} " + "x" * (i % 13) for i in range(20 if chunk_size < 10 else 300)]
        storage.put_object(bucket, "chunked/lines.txt", "\n".join(records) + "\n")
        storage.put_object(bucket, "chunked/crlf.txt", "\r\n".join(records))
        facade = Storage.from_handler(storage, bucket)
        for key, sep in (("chunked/lines.txt", "\n"), ("chunked/crlf.txt", "\r\n")):
            partitioner = Partitioner(lambda _: (facade, ""), storage.name, local_files=False,
                                      chunk_size=chunk_size, newline=sep)
            chunks = partitioner.partition(f"{bucket}/{key}")
            read: list[str] = []
            for chunk in chunks:
                chunk.bind(storage_opener(storage, bucket, key))
                read.extend(r for r in chunk.data_stream.read().decode().split(sep) if r)
            assert read == records, f"{key} with {chunk_size}-byte chunks"
