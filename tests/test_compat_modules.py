"""Modules and names that code written for Lithops 3.x imports: lithops.utils, lithops.future, lithops.version,
lithops.constants, lithops.config.load_config, lithops.storage.utils and the Storage conveniences."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lithops


def test_setup_lithops_logger_configures_the_lithops_logger(tmp_path: Path) -> None:
    """As Lithops's docs and multiprocessing examples use it: first thing in a script, before any executor."""
    script = tmp_path / "prog.py"
    script.write_text(
        "import logging\n"
        "from lithops.utils import setup_lithops_logger\n"
        "setup_lithops_logger(logging.DEBUG)\n"
        "logging.getLogger('lithops.example').debug('debug line')\n"
        "setup_lithops_logger('INFO', filename=" + repr(str(tmp_path / "log.txt")) + ")\n"
        "logging.getLogger('lithops.example').info('to the file')\n"
        "logging.getLogger('lithops.example').debug('filtered out')\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    assert "debug line" in out.stderr
    assert "to the file" not in out.stderr
    logged = (tmp_path / "log.txt").read_text()
    assert "to the file" in logged and "filtered out" not in logged


def test_setup_lithops_logger_none_leaves_logging_alone() -> None:
    from lithops.utils import setup_lithops_logger

    before = list(logging.getLogger("lithops").handlers)
    setup_lithops_logger(None)
    assert logging.getLogger("lithops").handlers == before


def test_utils_helpers() -> None:
    from lithops import utils

    assert utils.FuturesList is __import__("lithops.futures", fromlist=["FuturesList"]).FuturesList
    assert utils.is_lithops_worker() is False
    assert utils.sizeof_fmt(1536) == "1.5KiB"
    assert utils.version_str(sys.version_info) == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert utils.CURRENT_PY_VERSION == utils.version_str(sys.version_info)
    assert utils.is_unix_system() is (os.name != "nt")
    assert len(utils.uuid_str()) == 36
    assert list(utils.iterchunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]


def test_is_lithops_worker_inside_a_call(fexec: Any) -> None:
    def inside(_: int) -> bool:
        from lithops.utils import is_lithops_worker

        return is_lithops_worker()

    assert fexec.call_async(inside, 0).result() is True


def test_future_module_is_the_futures_module() -> None:
    import lithops.future
    import lithops.futures
    from lithops.future import ResponseFuture

    assert lithops.future is lithops.futures
    assert ResponseFuture is lithops.futures.ResponseFuture


def test_version_module() -> None:
    from lithops.version import __version__

    assert __version__ == lithops.__version__
    out = subprocess.run([sys.executable, "-m", "lithops.version"], capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == __version__


def test_constants_user_code_reads() -> None:
    from lithops import constants as c

    assert (c.LOCALHOST, c.SERVERLESS, c.STANDALONE) == ("localhost", "serverless", "standalone")
    assert c.MODE_DEFAULT == c.LOCALHOST  # nothing configured runs on this machine here
    assert c.STORAGE_BACKEND_DEFAULT == c.DEFAULT_STORAGE
    assert c.SERVERLESS_BACKEND_DEFAULT == "aws_lambda" and c.STANDALONE_BACKEND_DEFAULT == "aws_ec2"
    assert c.LOGGER_LEVEL == "info" and c.LOGGER_STREAM == "ext://sys.stderr"
    assert "%(message)s" in c.LOGGER_FORMAT and "%(message)s" in c.LOGGER_FORMAT_SHORT
    assert c.CONFIG_FILE == c.CONFIG_FILE_USER and c.CONFIG_DIR == os.path.dirname(c.CONFIG_FILE)
    assert c.CACHE_DIR == os.path.join(c.CONFIG_DIR, "cache")
    assert c.LITHOPS_TEMP_DIR == c.TEMP_DIR
    assert c.CPU_COUNT == os.cpu_count()
    assert c.WORKER_ENV == "LITHOPS_WORKER"


def test_load_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lithops.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text("lithops:\n  backend: localhost\n  log_level: DEBUG\n")
    assert load_config(str(path))["lithops"]["log_level"] == "DEBUG"
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(path))
    assert load_config()["lithops"]["log_level"] == "DEBUG"
    with pytest.raises(FileNotFoundError, match="nope"):
        load_config(str(tmp_path / "nope.yaml"))
    # No config anywhere: localhost, in a dict the caller can edit and hand to an executor.
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(empty))
    config = load_config()
    assert config["lithops"]["backend"] == "localhost"
    config["lithops"]["log_level"] = None
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.call_async(abs, -3).result() == 3


def test_cloud_object_url_and_local() -> None:
    from lithops.storage.utils import CloudObjectLocal, CloudObjectUrl

    url = CloudObjectUrl("https://example.com/data.csv")
    assert url.url == "https://example.com/data.csv" and "example.com" in str(url)
    local = CloudObjectLocal("/data/in/file.csv")
    assert (local.path, local.bucket, local.key) == ("/data/in/file.csv", "/data/in", "file.csv")


def test_storage_config_and_transfers(storage_config: dict[str, Any], tmp_path: Path) -> None:
    storage = lithops.Storage(config=storage_config)
    conf = storage.get_storage_config()
    assert conf is storage.config
    assert conf["backend"] == "localhost" and conf["bucket"] == storage.bucket and "localhost" in conf
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)
    assert storage.upload_file(str(src), storage.bucket, "up.bin", config=None) is True
    assert storage.download_file(storage.bucket, "up.bin", str(tmp_path / "dst.bin"), config=None) is True
    assert (tmp_path / "dst.bin").read_bytes() == b"x" * 1000


def test_storage_config_as_lithops_shapes_it(tmp_path: Path) -> None:
    """Lithops 3.x storage configs carry the bucket in the backend section (``storage_bucket``) only."""
    root = tmp_path / "root"
    storage = lithops.Storage(storage_config={"backend": "localhost",
                                              "localhost": {"storage_root": str(root), "storage_bucket": "mine"}})
    assert storage.bucket == "mine"
    storage.put_object(storage.bucket, "k", b"v")
    assert (root / "mine").is_dir()
