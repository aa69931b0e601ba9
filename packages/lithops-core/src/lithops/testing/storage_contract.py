"""The storage contract: what every :class:`lithops.backends.storage.StorageBackend` must do."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any, ClassVar

import pytest

from lithops.backends.storage import StorageBackend
from lithops.job.partitioner import Partitioner
from lithops.storage.chunks import storage_opener
from lithops.storage.storage import Storage
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError


class StorageContract:
    """Subclass with fixtures ``storage`` (a StorageBackend) and ``bucket`` (an existing empty bucket).

    Capabilities that may be listed in ``skip_capabilities``:
        ``create_bucket``: the backend cannot create buckets (the test of ``create_bucket`` is skipped).
    """

    skip_capabilities: ClassVar[set[str]] = set()

    def _skip_unless(self, capability: str) -> None:
        if capability in self.skip_capabilities:
            pytest.skip(f"backend declares no '{capability}' capability")

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
        for k in ["data/a.txt", "data/b.txt", "data/sub/c.txt", "database.txt", "other/d.txt"]:
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
            storage.head_bucket("lithops-no-such-bucket-4242")

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
