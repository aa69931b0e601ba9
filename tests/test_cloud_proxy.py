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
    cos.remove("/nope.txt")  # as in Lithops: object storage deletes are idempotent (its storage_os example)
    with pytest.raises(FileNotFoundError):
        cos.path.getsize("/nope.txt")
    with cos.open("/docs/a.txt", "w") as f:
        f.write("a")
    with pytest.raises(NotADirectoryError):
        cos.listdir("/docs/a.txt")


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


def test_listdir_of_an_emptied_folder_is_empty(cos):
    """Object storage has no empty folders: once its last file is removed, a folder lists as [] (as in Lithops),
    and so does one that never held a file."""
    with cos.open("bar/foo.txt", "w") as f:
        f.write("Hello world!")
    dirname = cos.path.dirname("bar/foo.txt")
    assert cos.listdir(dirname) == ["foo.txt"]
    cos.remove("bar/foo.txt")
    assert cos.listdir(dirname) == []
    assert cos.listdir("/nowhere") == []
    assert not cos.path.exists("/bar") and list(cos.walk("/bar")) == []


def test_listdir_suffix_dirs(cos):
    for name in ("bar/foo.txt", "bar/sub/x.txt"):
        with cos.open(name, "w") as f:
            f.write("x")
    assert cos.listdir("bar", suffix_dirs=True) == ["foo.txt", "sub/"]
    assert cos.listdir("/bar/") == ["foo.txt", "sub"]
    assert cos.listdir("/", suffix_dirs=True) == ["bar/"]


def test_open_takes_filename_as_in_lithops(cos, tmp_path):
    from lithops.storage import cloud_proxy

    with cos.open(filename="a/b.txt", mode="w") as f:
        f.write("hi")
    with cloud_proxy.cloud_open(filename="a/b.txt", mode="r", cloud_storage=cos.storage) as f:
        assert f.read() == "hi"
    with cloud_proxy.cloud_open("a/c.bin", "wb", cos.storage) as f:
        f.write(b"\x01")
    assert cos.storage.get_data("a/c.bin") == b"\x01"


def test_module_open_and_cloud_open_use_the_configured_storage(tmp_path, monkeypatch):
    config = tmp_path / "config.yaml"
    config.write_text(f"localhost:\n  storage_root: {tmp_path / 'root'}\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(config))
    from lithops.storage import cloud_proxy

    monkeypatch.setattr(cloud_proxy, "os", CloudFileProxy())
    with cloud_proxy.open(filename="f.txt", mode="w") as f:
        f.write("configured")
    with cloud_proxy.cloud_open("f.txt") as f:
        assert f.read() == "configured"
    assert (tmp_path / "root").is_dir()


def test_cloud_storage_data_methods(tmp_path):
    storage = CloudStorage({"localhost": {"storage_root": str(tmp_path / "root")}})
    storage.put_data("k/one", b"1")
    storage.put_data("k/two", "2")
    assert storage.get_data("k/one") == b"1"
    assert storage.list_bucket_keys() == ["k/one", "k/two"]
    assert storage.list_bucket_keys(prefix="k/t") == ["k/two"]
    storage.delete_data("k/one")
    assert storage.list_bucket_keys("k/") == ["k/two"]
    with pytest.raises(KeyError):
        storage.get_data("k/one")


def test_cloud_storage_config_forms_and_pickling(tmp_path):
    import pickle

    root = str(tmp_path / "root")
    full = CloudStorage({"lithops": {"storage": "localhost"}, "localhost": {"storage_root": root}})
    full.put_data("x", b"from full")
    from_storage_config = CloudStorage(full.get_storage_config())
    assert from_storage_config.get_data("x") == b"from full"
    path = tmp_path / "config.yaml"
    path.write_text(f"localhost:\n  storage_root: {root}\n")
    assert CloudStorage(str(path)).get_data("x") == b"from full"
    copy = pickle.loads(pickle.dumps(full))
    assert copy.get_data("x") == b"from full" and copy.bucket == full.bucket


def test_lithops_own_objects_are_hidden(cos):
    """As in Lithops: the folders Lithops writes in the bucket (job data, cloud objects) are not the user's files."""
    from lithops.storage.cloud_proxy import remove_lithops_keys

    storage = cos.storage
    for key in ("lithops.jobs/abc/func.pickle", "lithops.cloudobjects/x-1", "data/a.txt", "lithops.txt"):
        storage.put_data(key, b"x")
    assert cos.listdir("/") == ["data", "lithops.txt"]
    assert [d for d, _, _ in cos.walk("/")] == ["/", "/data"]
    assert not cos.path.isdir("/lithops.jobs") and not cos.path.exists("/lithops.cloudobjects")
    assert remove_lithops_keys(["lithops.jobs/a", "data/a.txt", "lithops.txt"]) == ["data/a.txt", "lithops.txt"]
    with cos.open("/lithops.jobs/abc/func.pickle", "rb") as f:  # still readable by name
        assert f.read() == b"x"


def test_other_os_names_are_the_real_os_module(cos):
    """As in Lithops: code that imports cloud_proxy's os still reads os.environ, os.getpid(), os.sep, ..."""
    assert cos.environ is real_os.environ
    assert cos.getpid() == real_os.getpid()
    assert cos.sep == "/" and cos.linesep == real_os.linesep
    with pytest.raises(AttributeError):
        cos.no_such_name  # noqa: B018
