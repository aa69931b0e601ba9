"""`lithops storage ...` against the localhost storage of a folder of the test's own."""

import os

import pytest

from test_cli import assert_one_line_error, lithops


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"localhost:\n  storage_root: {tmp_path / 'storage'}\n  storage_bucket: main\n")
    return dict(os.environ, LITHOPS_CONFIG_FILE=str(cfg), LITHOPS_STATE_DIR=str(tmp_path / "state"))


def test_put_list_get_delete_round_trip(env, tmp_path):
    src = tmp_path / "report.csv"
    src.write_bytes(b"a,b\n1,2\n" * 1000)
    out = lithops("storage", "put", str(src), "main", "-k", "data/report.csv", env=env)
    assert out.returncode == 0, out.stderr
    assert "Uploaded" in out.stdout and "main/data/report.csv" in out.stdout
    assert lithops("storage", "put", str(src), "main", env=env).returncode == 0  # key: the file's name

    out = lithops("storage", "list", "main", "-p", "data/", env=env)
    assert out.returncode == 0, out.stderr
    assert "data/report.csv" in out.stdout and "7.8 KiB" in out.stdout
    assert "report.csv  " not in out.stdout.replace("data/report.csv", "")  # the prefix filters
    assert "1 object(s)" in out.stdout
    out = lithops("storage", "list", env=env)  # the configured bucket
    assert "2 object(s)" in out.stdout

    dst = tmp_path / "copy.csv"
    out = lithops("storage", "get", "main", "data/report.csv", "-o", str(dst), env=env)
    assert out.returncode == 0, out.stderr
    assert dst.read_bytes() == src.read_bytes()
    out = lithops("storage", "get", "main", "data/report.csv", "-o", "-", env=env)
    assert out.stdout == src.read_text()
    out = lithops("storage", "get", "main", "report.csv", env=env, cwd=tmp_path / "storage")
    assert (tmp_path / "storage" / "report.csv").read_bytes() == src.read_bytes()

    out = lithops("storage", "delete", "main", "data/report.csv", env=env)
    assert out.returncode == 0 and "Deleted 1 object(s)" in out.stdout
    out = lithops("storage", "list", "main", "-p", "data/", env=env)
    assert "No objects in main under 'data/'." in out.stdout


def test_delete_by_prefix_and_empty(env, tmp_path):
    src = tmp_path / "x.txt"
    src.write_text("x")
    for key in ("logs/1", "logs/2", "keep/3"):
        assert lithops("storage", "put", str(src), "main", "-k", key, env=env).returncode == 0
    out = lithops("storage", "delete", "main", "-p", "logs/", env=env)
    assert "Deleted 2 object(s)" in out.stdout
    out = lithops("storage", "empty", "main", env=env)
    assert "Deleted 1 object(s)" in out.stdout
    assert "No objects in main." in lithops("storage", "list", "main", env=env).stdout


def test_errors_are_one_line(env, tmp_path):
    assert_one_line_error(lithops("storage", "get", "main", "nope.txt", env=env), "no object 'nope.txt'")
    assert_one_line_error(lithops("storage", "delete", "main", "nope.txt", env=env), "no object 'nope.txt'")
    assert_one_line_error(lithops("storage", "list", "nobucket", env=env), "bucket 'nobucket' does not exist")
    assert_one_line_error(lithops("storage", "empty", "nobucket", env=env), "bucket 'nobucket' does not exist")
    assert_one_line_error(lithops("storage", "delete", "main", env=env), "--prefix")
    assert_one_line_error(lithops("storage", "list", "-b", "aws_s3", env=env), "pip install lithops-aws")
    out = lithops("storage", "put", str(tmp_path / "missing.txt"), "main", env=env)
    assert out.returncode == 2  # a usage error, as click reports them, but on one line too
    assert out.stderr.strip().splitlines() == [
        f"Error: Invalid value for 'FILENAME': File '{tmp_path / 'missing.txt'}' does not exist. "
        f"See 'lithops storage put --help'."]
    out = lithops("storage", "get", "main", env=env)
    assert out.returncode == 2
    assert out.stderr.strip() == "Error: Missing argument 'KEY'. See 'lithops storage get --help'."
    out = lithops("storag", env=env)
    assert out.returncode == 2 and out.stderr.strip().startswith("Error: No such command 'storag'.")


def test_put_onto_a_key_that_holds_other_keys_is_a_clear_error(env, tmp_path):
    src = tmp_path / "f.txt"
    src.write_text("hi")
    assert lithops("storage", "put", str(src), "main", "-k", "many/a", env=env).returncode == 0
    out = lithops("storage", "put", str(src), "main", "-k", "many", env=env)
    assert_one_line_error(out, "cannot store key 'many'", "folder of other keys", "choose another key")
    assert ".lithops-tmp" not in out.stderr and "IsADirectoryError" not in out.stderr
