"""The `lithops` command as a user runs it."""

import os
import subprocess
import sys

import pytest

LITHOPS = [sys.executable, "-c", "from lithops.cli.main import main; main()"]


@pytest.fixture
def env(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    return dict(os.environ, LITHOPS_CONFIG_FILE=str(empty))


def test_hello_runs_a_function(env):
    out = subprocess.run([*LITHOPS, "hello"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Lithops is working as expected" in out.stdout


def test_missing_backend_is_one_line_with_the_fix(env):
    out = subprocess.run([*LITHOPS, "hello", "--backend", "aws_lambda"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "pip install lithops-aws" in out.stderr


def test_debug_shows_the_traceback(env):
    out = subprocess.run([*LITHOPS, "--debug", "hello", "--backend", "aws_lambda"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "Traceback" in out.stderr


def test_plugins_lists_localhost(env):
    out = subprocess.run([*LITHOPS, "plugins"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "lithops-localhost" in out.stdout
    assert "compute  localhost (localhost)" in out.stdout
