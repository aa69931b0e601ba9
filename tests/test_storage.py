"""lithops.Storage on the localhost backend, as a user's program uses it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import lithops
from lithops.storage.utils import CloudObject, StorageNoSuchBucketError, StorageNoSuchKeyError


@pytest.fixture
def storage(storage_config: dict[str, Any]) -> Any:
    return lithops.Storage(config=storage_config)


def test_bucket_is_a_folder_under_the_storage_root(storage: Any, storage_config: dict[str, Any]) -> None:
    assert storage.backend == "localhost"
    assert storage.bucket == "storage"
    assert os.path.isdir(os.path.join(storage_config["localhost"]["storage_root"], storage.bucket))


def test_put_get_head_delete(storage: Any) -> None:
    b = storage.bucket
    storage.put_object(b, "dir/obj.bin", b"hello world")
    assert storage.get_object(b, "dir/obj.bin") == b"hello world"
    head = storage.head_object(b, "dir/obj.bin")
    assert int(head["content-length"]) == 11
    storage.delete_object(b, "dir/obj.bin")
    with pytest.raises(StorageNoSuchKeyError):
        storage.get_object(b, "dir/obj.bin")


def test_put_str_and_overwrite(storage: Any) -> None:
    storage.put_object(storage.bucket, "text", "first")
    storage.put_object(storage.bucket, "text", "second")
    assert storage.get_object(storage.bucket, "text") == b"second"


def test_missing_key(storage: Any) -> None:
    with pytest.raises(StorageNoSuchKeyError) as info:
        storage.get_object(storage.bucket, "no/such/key")
    assert "no/such/key" in str(info.value)
    assert isinstance(info.value, KeyError)
    with pytest.raises(StorageNoSuchKeyError):
        storage.head_object(storage.bucket, "no/such/key")


def test_missing_bucket(storage: Any) -> None:
    with pytest.raises(StorageNoSuchBucketError):
        storage.head_bucket("no-such-bucket")
    with pytest.raises(StorageNoSuchBucketError):
        storage.list_keys("no-such-bucket")


def test_list_keys_and_objects(storage: Any) -> None:
    b = storage.bucket
    for key in ["a/1", "a/2", "a/sub/3", "b/4"]:
        storage.put_object(b, key, key.encode())
    assert sorted(storage.list_keys(b, "a/")) == ["a/1", "a/2", "a/sub/3"]
    assert sorted(storage.list_keys(b)) == ["a/1", "a/2", "a/sub/3", "b/4"]
    assert storage.list_keys(b, "zzz/") == []
    objects = storage.list_objects(b, "b/")
    assert [(o["Key"], o["Size"]) for o in objects] == [("b/4", 3)]
    storage.delete_objects(b, ["a/1", "a/2"])
    assert sorted(storage.list_keys(b)) == ["a/sub/3", "b/4"]


def test_ranged_and_streamed_get(storage: Any) -> None:
    storage.put_object(storage.bucket, "r", b"0123456789")
    assert storage.get_object(storage.bucket, "r", extra_get_args={"Range": "bytes=2-4"}) == b"234"
    stream = storage.get_object(storage.bucket, "r", stream=True)
    try:
        assert stream.read() == b"0123456789"
    finally:
        stream.close()


def test_other_bucket(storage: Any) -> None:
    storage.create_bucket("second")
    storage.put_object("second", "k", b"v")
    assert storage.get_object("second", "k") == b"v"
    assert storage.list_keys(storage.bucket) == []


def test_upload_and_download_file(storage: Any, tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(b"file body")
    storage.upload_file(str(src), storage.bucket, "up/src.txt")
    dst = tmp_path / "dst.txt"
    storage.download_file(storage.bucket, "up/src.txt", str(dst))
    assert dst.read_bytes() == b"file body"


def test_cloudobjects(storage: Any) -> None:
    co = storage.put_cloudobject(b"cloud body")
    assert isinstance(co, CloudObject)
    assert co.backend == "localhost" and co.bucket == storage.bucket
    assert storage.get_cloudobject(co) == b"cloud body"
    storage.delete_cloudobject(co)
    with pytest.raises(StorageNoSuchKeyError):
        storage.get_cloudobject(co)


def test_executor_storage_shares_the_objects(storage_fexec: Any, storage: Any) -> None:
    storage.put_object(storage.bucket, "shared", b"from client")
    assert storage_fexec.storage.get_object(storage.bucket, "shared") == b"from client"


def read_object(key: str, storage: Any) -> bytes:
    return storage.get_object(storage.bucket, key)


def test_worker_reads_what_the_client_wrote(storage_fexec: Any, storage: Any) -> None:
    storage.put_object(storage.bucket, "in/0", b"zero")
    storage.put_object(storage.bucket, "in/1", b"one")
    assert storage_fexec.map(read_object, ["in/0", "in/1"]).get_result() == [b"zero", b"one"]


def test_worker_missing_key_raises_in_client(storage_fexec: Any) -> None:
    with pytest.raises(StorageNoSuchKeyError, match="missing/key"):
        storage_fexec.call_async(read_object, "missing/key").result()
