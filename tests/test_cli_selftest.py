"""`lithops test` (a real self-check) and `lithops clean`."""

import os
import subprocess
import sys

import pytest

from test_cli import lithops


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"localhost:\n  storage_root: {tmp_path / 'storage'}\n")
    return dict(os.environ, LITHOPS_CONFIG_FILE=str(cfg), LITHOPS_STATE_DIR=str(tmp_path / "state"))


def test_self_check_passes_on_localhost(env, tmp_path):
    out = lithops("test", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    checks = [line.split()[0] for line in out.stdout.splitlines() if line.startswith("  ")]
    assert checks == ["ok"] * 9, out.stdout
    for title in ("create an executor", "one call", "a map", "a map_reduce", "an exception round trip",
                  "captured output", "storage from the client", "storage from a function", "clean up"):
        assert title in out.stdout
    assert out.stdout.rstrip().endswith("All 9 checks passed.")
    assert "on stderr" not in out.stdout + out.stderr  # what the checked call printed is not echoed here
    assert not list((tmp_path / "storage").rglob("lithops.test*/*"))  # nothing left behind


def test_self_check_selects_checks(env):
    out = lithops("test", "-t", "map,exception", env=env)
    assert out.returncode == 0, out.stdout
    assert [line.split()[0] for line in out.stdout.splitlines() if line.startswith("  ")] == ["ok"] * 3
    out = lithops("test", "-t", "mapp", env=env)  # a usage error: exit code 2, as docs/cli.md says
    assert out.returncode == 2, out
    assert out.stderr.startswith("Error: Invalid value for '--test': unknown check mapp."), out.stderr
    assert "map_reduce" in out.stderr and "See 'lithops test --help'" in out.stderr


def test_self_check_fails_with_exit_1_and_says_why(env, tmp_path):
    """The storage root is a file: the calls work, every storage check fails, one line each."""
    (tmp_path / "not-a-folder").write_text("")
    cfg = tmp_path / "broken.yaml"
    cfg.write_text(f"localhost:\n  storage_root: {tmp_path / 'not-a-folder' / 'storage'}\n")
    out = lithops("test", "-c", str(cfg), env=env)
    assert out.returncode == 1
    assert "Traceback" not in out.stdout + out.stderr
    lines = {line.split(None, 1)[1][:24].strip(): line for line in out.stdout.splitlines() if line.startswith("  ")}
    assert lines["a map"].split()[0] == "ok"
    assert lines["storage from the client"].split()[0] == "FAIL"
    assert "Not a directory" in lines["storage from the client"]
    assert out.stdout.rstrip().endswith("3 of 9 checks failed.")


def test_self_check_of_a_missing_backend(env):
    out = lithops("test", "-b", "aws_lambda", env=env)
    assert out.returncode == 1
    assert "FAIL  create an executor" in out.stdout and "pip install lithops-aws" in out.stdout
    assert out.stdout.count("not run after the failure above") == 8


def test_clean_deletes_job_objects_and_local_state(env, tmp_path):
    storage = tmp_path / "storage" / "storage"
    script = (
        "import lithops\n"
        "def say(x):\n    print('said', x)\n    return x\n"
        "with lithops.FunctionExecutor(log_level=None) as fexec:\n"
        "    fexec.map(say, range(3)).get_result()\n"
        "    fexec.storage.put_object(fexec.storage.bucket, 'lithops.jobs/old-0/M000/func.pickle', b'x')\n"
        "    fexec.storage.put_object(fexec.storage.bucket, 'lithops.cloudobjects/abc', b'x')\n"
        "    fexec.storage.put_object(fexec.storage.bucket, 'mine/data.txt', b'x')\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, timeout=60)
    assert "say" in lithops("job", "list", env=env).stdout
    assert (storage / "lithops.jobs").exists()

    out = lithops("clean", env=env)
    assert out.returncode == 0, out.stderr
    assert "Deleted 1 object(s) under lithops.jobs/" in out.stdout
    assert not (storage / "lithops.jobs").exists()
    assert (storage / "lithops.cloudobjects" / "abc").exists()  # only with --all
    assert (storage / "mine" / "data.txt").exists()  # never
    assert "No jobs submitted" in lithops("job", "list", env=env).stdout
    assert not [p for p in (tmp_path / "state" / "logs").glob("*") if not p.name.startswith(".")]

    out = lithops("clean", "--all", env=env)
    assert "Deleted 1 object(s) under lithops.cloudobjects/" in out.stdout
    assert out.returncode == 0 and (storage / "mine" / "data.txt").exists()
