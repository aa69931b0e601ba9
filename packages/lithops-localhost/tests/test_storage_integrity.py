"""Localhost storage integrity: keys and prefixes that are refused, puts racing deletes in other processes,
writers killed mid-put, and the Lithops behaviours of buckets (created on first write, S3-shaped head_bucket).
Real files and real processes.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lithops.storage.storage import Storage
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops_localhost.storage import LocalhostStorage

FORK = multiprocessing.get_context("fork")


def _storage(root: Path) -> LocalhostStorage:
    return LocalhostStorage({"storage_root": str(root), "storage_bucket": "b"})


@pytest.fixture
def storage(tmp_path: Path) -> LocalhostStorage:
    return _storage(tmp_path / "root")


# -- keys and prefixes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "why"), [
    ("a/./b", "'.' part"),
    ("a//b", "empty or '.' part"),
    ("./a", "'.' part"),
    ("a/.", "'.' part"),
    (".lithops-tmp-123-4-5", "reserved"),
    ("dir/.lithops-tmp-1", "reserved"),
    (".lithops-tmp/x", "reserved"),
    ("x" * 300, "300 bytes long; each part"),
    ("d/" + "y" * 256, "256 bytes long; each part"),
    ("/".join(["é" * 100] * 6), "over the limit of 1024 bytes"),
    ("nul\0byte", "NUL"),
    ("dir/", "names a folder"),
    ("", "relative paths"),
    ("/abs", "without a leading '/'"),
    ("a/../..", "outside the bucket"),
])
def test_keys_that_would_alias_or_break_are_refused(storage: LocalhostStorage, tmp_path: Path, key: str,
                                                    why: str) -> None:
    storage.put_object("b", "a/b", b"the real a/b")
    with pytest.raises(ValueError, match=f"invalid key .* for bucket 'b': .*{why}"):
        storage.put_object("b", key, b"x")
    for read in (storage.get_object, storage.head_object, storage.delete_object):
        with pytest.raises(ValueError, match="invalid key"):
            read("b", key)
    assert storage.get_object("b", "a/b") == b"the real a/b"
    assert storage.list_keys("b") == ["a/b"]


@pytest.mark.parametrize("key", [".hidden", "a/.hidden", "..twodots", "a/..b", "z" * 255, "é" * 127,
                                 "lithops-tmp", "a/.lithops"])
def test_unusual_but_valid_keys_are_kept_and_listed(storage: LocalhostStorage, key: str) -> None:
    storage.put_object("b", key, key.encode())
    assert storage.get_object("b", key) == key.encode()
    assert storage.list_keys("b") == [key]
    storage.delete_object("b", key)
    assert storage.list_keys("b") == []


@pytest.mark.parametrize("prefix", ["..", "../", "../..", "../../etc", "a/../../", "/etc", "/", "a//",
                                    ".lithops-tmp/"])
def test_prefixes_that_leave_the_bucket_are_refused(tmp_path: Path, prefix: str) -> None:
    facade = Storage(config={"localhost": {"storage_root": str(tmp_path / "root")}})
    facade.put_object(facade.bucket, "inside", b"1")
    (tmp_path / "outside.txt").write_text("not in any bucket")
    with pytest.raises(ValueError, match=f"invalid prefix {prefix!r}"):
        facade.list_keys(facade.bucket, prefix)
    with pytest.raises(ValueError, match="invalid prefix"):
        facade.list_objects(facade.bucket, prefix)


def test_cli_list_refuses_a_prefix_that_leaves_the_bucket(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"localhost:\n  storage_root: {tmp_path / 'root'}\n")
    env = dict(os.environ, LITHOPS_CONFIG_FILE=str(config), LITHOPS_STATE_DIR=str(tmp_path / "state"))
    out = subprocess.run([sys.executable, "-c", "from lithops.cli.main import main; main()", "storage", "list",
                          "-p", "../../"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out
    assert out.stderr.startswith("Error: ") and "invalid prefix '../../'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "root" not in out.stdout


def test_a_key_that_is_a_folder_of_keys_is_refused_clearly(storage: LocalhostStorage) -> None:
    storage.put_object("b", "many/one", b"1")
    with pytest.raises(ValueError, match="cannot store key 'many': it is a folder of other keys"):
        storage.put_object("b", "many", b"x")
    with pytest.raises(ValueError, match="cannot store key 'many/one/two': a part of it is already an object"):
        storage.put_object("b", "many/one/two", b"x")


# -- concurrent puts and deletes ---------------------------------------------------------------------------------
def _churn(root: str, worker: int, rounds: int, errors: Any) -> None:
    storage = _storage(Path(root))
    failures = []
    for i in range(rounds):
        key = f"race/sub/w{worker}-{i % 3}"
        data = f"{worker}-{i}".encode()
        try:
            storage.put_object("b", key, data)
            if storage.get_object("b", key) != data:
                failures.append(f"{key}: read back something else")
            storage.delete_object("b", key)
        except Exception as exc:  # every error counts; the test reports them
            failures.append(f"{key}: {type(exc).__name__}: {exc}")
    errors.put(failures)


def test_processes_putting_and_deleting_their_own_keys_in_one_folder_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _storage(root)
    errors = FORK.Queue()
    procs = [FORK.Process(target=_churn, args=(str(root), w, 1000, errors)) for w in range(4)]
    for p in procs:
        p.start()
    failures = [f for _ in procs for f in errors.get(timeout=120)]
    for p in procs:
        p.join(timeout=30)
    assert failures == [], f"{len(failures)} of 4000 put/get/delete rounds failed, e.g. {failures[:3]}"
    assert not (root / "b" / "race").exists()  # every folder was pruned with its last object


# -- writers that die ------------------------------------------------------------------------------------------
class _SlowBody:
    """A long upload that trickles in (a network stream, say)."""

    def __init__(self) -> None:
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        time.sleep(0.01)
        self.sent += 1
        return b"x" * 65536 if self.sent < 10_000 else b""


def _slow_put(root: str) -> None:
    _storage(Path(root)).put_object("b", "dir/key", _SlowBody())


def _temp_files(bucket: Path) -> list[Path]:
    return [p for p in bucket.rglob("*") if p.is_file() and "tmp" in str(p.relative_to(bucket)) and p.stat().st_size]


def test_a_writer_killed_mid_put_blocks_no_key_and_its_temp_file_goes_away(tmp_path: Path) -> None:
    root = tmp_path / "root"
    storage = _storage(root)
    writer = FORK.Process(target=_slow_put, args=(str(root),))
    writer.start()
    deadline = time.monotonic() + 30
    while not _temp_files(root / "b") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(timeout=10)
    [temp] = _temp_files(root / "b")

    assert storage.list_keys("b") == []
    storage.put_object("b", "dir", b"a key where the killed writer was making a folder")
    assert storage.get_object("b", "dir").startswith(b"a key")
    storage.delete_object("b", "dir")
    storage.put_object("b", "dir/key", b"the key the killed writer was writing")
    storage.delete_object("b", "dir/key")
    assert sorted(p.name for p in (root / "b").iterdir()) == [".lithops-tmp"]

    _storage(root)  # a fresh writer's temp file is left alone (its process may be in another pid namespace)
    assert temp.exists()
    old = time.time() - 120
    os.utime(temp, (old, old))
    _storage(root)  # the next backend to open the bucket removes what a dead writer left
    assert not temp.exists()


def test_temp_files_of_live_writers_are_kept_unless_abandoned(storage: LocalhostStorage, tmp_path: Path) -> None:
    temp_dir = tmp_path / "root" / "b" / ".lithops-tmp"
    temp_dir.mkdir(exist_ok=True)
    live, abandoned = temp_dir / f"{os.getpid()}-live", temp_dir / f"{os.getpid()}-abandoned"
    live.write_bytes(b"in progress")
    abandoned.write_bytes(b"left for two days")
    two_days_ago = time.time() - 2 * 86400
    os.utime(abandoned, (two_days_ago, two_days_ago))
    old = time.time() - 120
    os.utime(live, (old, old))
    _storage(tmp_path / "root")
    assert live.exists() and not abandoned.exists()


def test_temp_files_left_beside_keys_by_earlier_versions_go_away(storage: LocalhostStorage,
                                                                 tmp_path: Path) -> None:
    storage.put_object("b", "dir/real", b"1")
    legacy = tmp_path / "root" / "b" / "dir" / ".lithops-tmp-999999999-1-0"
    legacy.write_bytes(b"partial")
    old = time.time() - 120
    os.utime(legacy, (old, old))
    assert storage.list_keys("b") == ["dir/real"]
    assert not legacy.exists()
    storage.delete_object("b", "dir/real")
    assert not (tmp_path / "root" / "b" / "dir").exists()


# -- buckets, as Lithops has them ---------------------------------------------------------------------------------
def test_first_write_creates_the_bucket_reads_of_a_missing_one_fail(tmp_path: Path) -> None:
    facade = Storage(config={"localhost": {"storage_root": str(tmp_path / "root")}})
    facade.put_object("fresh-bucket", "k", b"v")
    assert facade.get_object("fresh-bucket", "k") == b"v"
    src = tmp_path / "file.txt"
    src.write_text("uploaded")
    facade.upload_file(str(src), "other-fresh-bucket", "f.txt")
    assert facade.get_object("other-fresh-bucket", "f.txt") == b"uploaded"
    for read in (lambda: facade.get_object("never-made", "k"), lambda: facade.list_keys("never-made"),
                 lambda: facade.head_object("never-made", "k"), lambda: facade.head_bucket("never-made")):
        with pytest.raises(StorageNoSuchBucketError, match="never-made"):
            read()
    assert not (tmp_path / "root" / "never-made").exists()
    with pytest.raises(StorageNoSuchKeyError):
        facade.get_object("fresh-bucket", "missing")


def test_a_refused_key_creates_no_bucket(storage: LocalhostStorage, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid key"):
        storage.put_object("not-yet", "../x", b"1")
    assert not (tmp_path / "root" / "not-yet").exists()


def test_head_bucket_is_shaped_like_lithops(storage: LocalhostStorage) -> None:
    facade = Storage.from_handler(storage, "b")
    assert facade.head_bucket("b")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_bucket_removed_behind_the_backends_back_is_made_again_on_write(storage: LocalhostStorage,
                                                                         tmp_path: Path) -> None:
    storage.put_object("b", "k", b"1")
    shutil.rmtree(tmp_path / "root" / "b")
    with pytest.raises(StorageNoSuchBucketError):
        storage.get_object("b", "k")
    storage.put_object("b", "k2", b"2")
    assert storage.list_keys("b") == ["k2"]
