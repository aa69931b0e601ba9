"""A missing redis-server fails the run with the install command, unless the Redis tests are explicitly opted out."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to compare with")


def run_without_redis_server(tmp_path, **env):
    """Run one test that uses the redis_server fixture, on a PATH where redis-server cannot be found."""
    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_uses_redis.py").write_text("def test_it(redis_server):\n    pass\n")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    environ = {k: v for k, v in os.environ.items() if k != "LITHOPS_TESTS_WITHOUT_REDIS"}
    environ.update(PATH=str(empty_bin), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)


def test_a_missing_redis_server_fails_with_the_install_command(tmp_path):
    out = run_without_redis_server(tmp_path)
    assert out.returncode != 0, out.stdout
    assert "1 error" in out.stdout and "skipped" not in out.stdout, out.stdout
    assert "apt-get install redis-server" in out.stdout and "LITHOPS_TESTS_WITHOUT_REDIS=1" in out.stdout


def test_the_redis_tests_can_be_opted_out_explicitly(tmp_path):
    out = run_without_redis_server(tmp_path, LITHOPS_TESTS_WITHOUT_REDIS="1")
    assert out.returncode == 0, out.stdout
    assert "1 skipped" in out.stdout, out.stdout
