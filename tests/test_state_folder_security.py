"""The local state folder (<tmp>/lithops-<user>, or LITHOPS_STATE_DIR) and the localhost storage root are private:
created 0700 with files 0600, refused when another user owns or can write them, and never read or written
through a symbolic link. Real folders, real modes, real processes; as root, "another user" is uid 65534.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lithops
from lithops import local_state
from lithops.errors import BackendError, PrivateFolderError
from lithops.storage.utils import StorageNoSuchKeyError
from lithops_localhost.storage import LocalhostStorage
from test_cli import lithops as run_cli

OTHER_UID = 65534  # nobody
as_root = pytest.mark.skipif(os.getuid() != 0, reason="making a folder of another user needs root")

SCRIPT = """
import os, sys, lithops
os.umask(0)  # the modes must not depend on the umask
def talk(x):
    print("secret token", x)
    return x
with lithops.FunctionExecutor(log_level=None, echo_output=False, worker_processes=1) as fexec:
    fs = fexec.map(talk, range(2))
    fexec.get_result(fs)
    storage = lithops.Storage()
    storage.put_object(storage.bucket, "deep/er/object", b"stored")
    print(fs[0].job_key)
"""

PEEK_SCRIPT = """
import os, lithops
def peek(x):
    print("secret token")
    return os.listdir(os.environ["ELSEWHERE"])
with lithops.FunctionExecutor(log_level=None, echo_output=False, worker_processes=1) as fexec:
    print("while running:", fexec.call_async(peek, 0).result())
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _other_users_folder(path: Path, mode: int) -> Path:
    path.mkdir()
    os.chown(path, OTHER_UID, OTHER_UID)
    path.chmod(mode)
    return path


def test_state_and_storage_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    state, storage = tmp_path / "state", tmp_path / "state" / "storage"
    config = tmp_path / "config.yaml"
    config.write_text(f"localhost:\n  storage_root: {storage}\n")
    env = dict(os.environ, LITHOPS_STATE_DIR=str(state), LITHOPS_CONFIG_FILE=str(config))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    job_key = out.stdout.split()[-1]
    logs = state / "logs" / job_key
    assert (logs / "00000.log").read_bytes() == b"secret token 0\n"
    folders = [p for p in state.rglob("*") if p.is_dir()] + [state]
    files = [p for p in state.rglob("*") if p.is_file()]
    assert logs in folders and state / "jobs.jsonl" in files and storage / "storage" / "deep" / "er" in folders
    assert storage / "storage" / "deep" / "er" / "object" in files
    assert {str(p): oct(_mode(p)) for p in folders if _mode(p) != 0o700} == {}
    assert {str(p): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}


def test_a_folder_of_ours_that_others_can_read_is_made_private(tmp_path: Path, monkeypatch: Any) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(state))
    assert local_state.state_dir() == str(state)
    assert _mode(state) == 0o700


@as_root
def test_executor_refuses_a_state_folder_of_another_user(tmp_path: Path, monkeypatch: Any, warm_pool: None) -> None:
    state = _other_users_folder(tmp_path / "state", 0o777)
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(state))
    with lithops.FunctionExecutor(log_level=None) as fexec, pytest.raises(BackendError) as info:
        fexec.call_async(abs, -1)
    assert isinstance(info.value.__cause__, PrivateFolderError)
    message = str(info.value)
    assert str(state) in message and "uid 65534" in message and "LITHOPS_STATE_DIR" in message
    assert os.listdir(state) == []  # nothing was written for the other user to read


@as_root
@pytest.mark.parametrize("command", [["job", "list"], ["worker", "list"], ["logs", "get", "x-0-M000"]])
def test_cli_refuses_a_state_folder_of_another_user(tmp_path: Path, command: list[str]) -> None:
    state = _other_users_folder(tmp_path / "state", 0o700)
    env = dict(os.environ, LITHOPS_STATE_DIR=str(state))
    out = run_cli(*command, env=env)
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr
    assert f"Lithops's local state folder {state} belongs to another user (uid 65534" in out.stderr


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_folder_others_can_write_is_refused_even_if_ours(tmp_path: Path, monkeypatch: Any, mode: int) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(state))
    with pytest.raises(PrivateFolderError, match=f"can be written by other users.*chmod 700 {state}"):
        local_state.read_jobs()
    with pytest.raises(PrivateFolderError):
        local_state.read_call_log("x-0-M000", "00000")  # future.logs()
    local_state.record_job_finished("x-0-M000", 1, 0)  # a best-effort writer writes nothing there
    assert os.listdir(state) == []


@as_root
def test_a_folder_inside_one_of_another_user_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    parent = _other_users_folder(tmp_path / "theirs", 0o755)
    state = parent / "state"
    state.mkdir(mode=0o700)  # ours, but they can rename it and put their own in its place
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(state))
    with pytest.raises(PrivateFolderError, match=f"inside {parent}, which belongs to another user"):
        local_state.read_jobs()


@as_root
def test_a_state_folder_that_is_another_users_link_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    target = tmp_path / "somewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "state"
    link.symlink_to(target)
    os.lchown(link, OTHER_UID, OTHER_UID)
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(link))
    with pytest.raises(PrivateFolderError, match="is a link made by another user"):
        local_state.read_jobs()


def test_links_planted_in_the_state_folder_are_not_followed(tmp_path: Path, monkeypatch: Any) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(state))
    local_state.state_dir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"only mine\n")
    victim.chmod(0o600)
    (state / "jobs.jsonl").symlink_to(victim)
    (state / "logs" / "job-0-M000").mkdir(parents=True)
    (state / "logs" / "job-0-M000" / "00000.log").symlink_to(victim)
    (state / "logs" / ".running").symlink_to(tmp_path, target_is_directory=True)
    local_state.record_job_submitted("job-0-M000", "f", 1, "localhost", "localhost", 0.0)
    local_state.save_call_log("job-0-M000", "00001", b"call output")
    assert victim.read_bytes() == b"only mine\n"  # nothing appended through jobs.jsonl
    assert local_state.read_jobs() == []
    assert local_state.read_call_log("job-0-M000", "00000") is None  # not read through the link
    assert local_state.read_call_log("job-0-M000", "00001") == b"call output"
    assert [c for c, _ in local_state.job_call_logs("job-0-M000")] == ["00001"]
    running = local_state.running_log_path(local_state.job_logs_dir("job-0-M000"), 4242)
    with pytest.raises(OSError):
        local_state.open_call_log(running)  # .running is a link: refused rather than followed
    assert not (tmp_path / "4242.log").exists()


def test_worker_output_is_not_written_through_a_planted_link(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "logs").mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (state / "logs" / ".running").symlink_to(elsewhere, target_is_directory=True)
    env = dict(os.environ, LITHOPS_STATE_DIR=str(state), ELSEWHERE=str(elsewhere))
    out = subprocess.run([sys.executable, "-c", PEEK_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "while running: []"  # the call's output did not go through the link
    assert os.listdir(elsewhere) == []


@as_root
def test_storage_root_of_another_user_is_refused(tmp_path: Path) -> None:
    root = _other_users_folder(tmp_path / "root", 0o777)
    with pytest.raises(PrivateFolderError, match=f"localhost storage root {root} belongs to another user"):
        LocalhostStorage({"storage_root": str(root), "storage_bucket": "b"})
    assert os.listdir(root) == []


def test_storage_does_not_follow_links_inside_a_bucket(tmp_path: Path) -> None:
    storage = LocalhostStorage({"storage_root": str(tmp_path / "root"), "storage_bucket": "b"})
    victim = tmp_path / "victim"
    victim.write_bytes(b"only mine")
    (tmp_path / "root" / "b" / "link").symlink_to(victim)
    assert storage.list_keys("b") == []
    with pytest.raises(StorageNoSuchKeyError):
        storage.get_object("b", "link")
    with pytest.raises(StorageNoSuchKeyError):
        storage.head_object("b", "link")
    storage.put_object("b", "link", b"replaced")  # the link is replaced, its target untouched
    assert victim.read_bytes() == b"only mine"
    assert storage.get_object("b", "link") == b"replaced"
