"""cloud_proxy's open and os behave like the built-in ones, on storage."""

import os as real_os

import pytest

import lithops
from lithops.storage.cloud_proxy import CloudFileProxy, CloudStorage


@pytest.fixture
def cos(tmp_path, monkeypatch):
    cfg = {"localhost": {"storage_root": str(tmp_path / "root")}}
    return CloudFileProxy(CloudStorage(config=cfg))


def test_text_and_binary_round_trip(cos):
    with cos.open("/docs/a.txt", "w") as f:
        f.write("héllo\nworld\n")
    with cos.open("docs/a.txt") as f:
        assert f.readlines() == ["héllo\n", "world\n"]
    with cos.open("/docs/b.bin", "wb") as f:
        f.write(b"\x00\x01")
    with cos.open("/docs/b.bin", "rb") as f:
        assert f.read() == b"\x00\x01"


def test_append_update_and_exclusive(cos):
    with cos.open("/log.txt", "a") as f:
        f.write("one\n")
    with cos.open("/log.txt", "a") as f:
        f.write("two\n")
    with cos.open("/log.txt", "r+") as f:
        assert f.read() == "one\ntwo\n"
        f.write("three\n")
    with cos.open("/log.txt") as f:
        assert f.read() == "one\ntwo\nthree\n"
    with pytest.raises(FileExistsError):
        cos.open("/log.txt", "x")


def test_missing_files_raise_file_not_found(cos):
    with pytest.raises(FileNotFoundError):
        cos.open("/nope.txt")
    with pytest.raises(FileNotFoundError):
        cos.open("/nope.txt", "r+")
    with pytest.raises(FileNotFoundError):
        cos.remove("/nope.txt")
    with pytest.raises(FileNotFoundError):
        cos.path.getsize("/nope.txt")
    with pytest.raises(FileNotFoundError):
        cos.listdir("/nowhere")


def test_a_failed_write_keeps_the_old_object(cos):
    with cos.open("/keep.txt", "w") as f:
        f.write("old")
    with pytest.raises(RuntimeError):
        with cos.open("/keep.txt", "w") as f:
            f.write("new")
            raise RuntimeError("crash while writing")
    with pytest.raises(RuntimeError):
        with cos.open("/keep.txt", "wb") as f:
            f.write(b"new")
            raise RuntimeError("crash while writing")
    with cos.open("/keep.txt") as f:
        assert f.read() == "old"


def test_os_functions_match_the_local_file_system(cos, tmp_path):
    local = tmp_path / "local"
    files = ["a.txt", "sub/b.txt", "sub/deeper/c.txt", "sub/d.txt", "other/e.txt"]
    for name in files:
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_text(name)
        with cos.open("/" + name, "w") as f:
            f.write(name)
    assert cos.listdir("/") == sorted(real_os.listdir(local))
    assert cos.listdir("/sub") == sorted(real_os.listdir(local / "sub"))
    theirs = [(p[len(str(local)):] or "/", sorted(d), sorted(f)) for p, d, f in real_os.walk(local)]
    ours = list(cos.walk("/"))
    assert sorted(ours) == sorted(theirs)
    assert ours[0][0] == "/"
    assert cos.path.isfile("/sub/b.txt") and not cos.path.isfile("/sub")
    assert cos.path.isdir("/sub") and cos.path.isdir("/") and not cos.path.isdir("/a.txt")
    assert cos.path.exists("/sub/deeper") and not cos.path.exists("/zzz")
    assert cos.path.getsize("/sub/b.txt") == len("sub/b.txt")
    assert cos.path.join("/sub", "x") == "/sub/x"
    cos.makedirs("/new/folder", exist_ok=True)
    with pytest.raises(OSError):
        cos.rmdir("/sub")
    cos.rename("/a.txt", "/moved/a.txt")
    assert cos.path.isfile("/moved/a.txt") and not cos.path.exists("/a.txt")
    cos.remove("/moved/a.txt")
    assert "moved" not in cos.listdir("/")


def test_default_proxy_inside_a_worker(tmp_path):
    cfg = {"localhost": {"storage_root": str(tmp_path / "root")}}

    def write_and_list(name):
        from lithops.storage.cloud_proxy import open, os

        with open(f"/out/{name}.txt", "w") as f:
            f.write(name)
        return os.listdir("/out")

    with lithops.FunctionExecutor(config=cfg, log_level=None) as fexec:
        fexec.map(write_and_list, ["x", "y"]).get_result()
        assert fexec.call_async(write_and_list, "z").result() == ["x.txt", "y.txt", "z.txt"]
