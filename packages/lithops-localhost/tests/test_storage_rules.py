"""Rules of the localhost storage beyond the shared contract: key safety and atomic writes."""

import io
import os
import threading

import pytest

from lithops_localhost.storage import LocalhostStorage


@pytest.fixture
def storage(tmp_path):
    return LocalhostStorage({"storage_root": str(tmp_path / "root"), "storage_bucket": "b"})


@pytest.mark.parametrize("key", ["../escape", "a/../../escape", "/etc/passwd", "a/../..", "dir/"])
def test_keys_that_leave_the_bucket_are_refused(storage, key, tmp_path):
    with pytest.raises(ValueError, match="invalid key"):
        storage.put_object("b", key, b"x")
    assert not (tmp_path / "root" / "escape").exists()


def test_bucket_names_cannot_hold_paths(storage):
    with pytest.raises(ValueError, match="invalid bucket"):
        storage.put_object("../b", "k", b"x")


def test_default_bucket_is_created(tmp_path):
    LocalhostStorage({"storage_root": str(tmp_path / "r"), "storage_bucket": "mine"})
    assert (tmp_path / "r" / "mine").is_dir()


class _FailingReader(io.RawIOBase):
    """Yields some bytes, then fails like a broken upload."""

    def __init__(self):
        self.sent = False

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.sent:
            raise OSError("connection lost")
        self.sent = True
        buffer[:4] = b"part"
        return 4


def test_failed_write_leaves_the_old_object_and_no_temp_file(storage, tmp_path):
    storage.put_object("b", "obj", b"complete old version")
    with pytest.raises(OSError, match="connection lost"):
        storage.put_object("b", "obj", io.BufferedReader(_FailingReader()))
    assert storage.get_object("b", "obj") == b"complete old version"
    assert sorted(os.listdir(tmp_path / "root" / "b")) == [".lithops-tmp", "obj"]
    assert os.listdir(tmp_path / "root" / "b" / ".lithops-tmp") == []


def test_readers_never_see_a_torn_object(storage):
    big_a, big_b = b"a" * 4_000_000, b"b" * 4_000_000
    storage.put_object("b", "torn", big_a)
    stop = threading.Event()
    seen = set()

    def read():
        while not stop.is_set():
            data = storage.get_object("b", "torn")
            seen.add((len(data), data[:1], data[-1:]))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(20):
        storage.put_object("b", "torn", big_b if i % 2 == 0 else big_a)
    stop.set()
    reader.join()
    assert seen <= {(4_000_000, b"a", b"a"), (4_000_000, b"b", b"b")}


def test_temp_files_are_not_listed(storage, tmp_path):
    storage.put_object("b", "real", b"1")
    (tmp_path / "root" / "b" / ".lithops-tmp-abc").write_bytes(b"partial")
    assert storage.list_keys("b") == ["real"]


def test_empty_folders_are_removed_with_their_last_object(storage, tmp_path):
    storage.put_object("b", "deep/er/obj", b"1")
    storage.delete_object("b", "deep/er/obj")
    assert not (tmp_path / "root" / "b" / "deep").exists()


@pytest.mark.parametrize("header", ["items=0-1", "bytes=", "bytes=0-1,3-4"])
def test_bad_ranges_are_refused(storage, header):
    storage.put_object("b", "ranged", b"0123456789")
    with pytest.raises(ValueError, match="unsupported Range"):
        storage.get_object("b", "ranged", extra_get_args={"Range": header})
