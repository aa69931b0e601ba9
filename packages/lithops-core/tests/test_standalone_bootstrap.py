"""The bootstrap script as user data: the code zip downloaded with the VM's own identity, and no per-boot copy where
the cloud runs the user data at every boot itself."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from lithops.standalone.bootstrap import PER_BOOT_DIR, VM_ID_PLACEHOLDER, bootstrap_script
from lithops.testing.http_fake import QuietHandler

TOKEN = "Bearer vm-identity-token"


@pytest.fixture
def private_code() -> Iterator[str]:
    """A URL of a code zip that answers 401 without ``Authorization: <TOKEN>``, as a private bucket does."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("marker.txt", "code")
    zipped = buffer.getvalue()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != TOKEN:
                self.send_whole(401, b"anonymous caller", {})
            else:
                self.send_whole(200, zipped, {"Content-Type": "application/zip"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/code.zip"
    finally:
        server.shutdown()
        server.server_close()


def _script(url: str, install_dir: Any, **kwargs: Any) -> str:
    return bootstrap_script(install_dir=str(install_dir), vm_id=None, python=sys.executable,
                            python_version="{}.{}".format(*sys.version_info[:2]), digest="abc",
                            agent_config={"vm_id": VM_ID_PLACEHOLDER}, code_url=url, vm_id_command="echo vm1",
                            **kwargs)


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)


def _stop_agent(install_dir: Any) -> None:
    pid_file = install_dir / "agents" / "vm1" / "agent.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_code_downloaded_with_the_authorization_the_vm_prints(private_code: str, tmp_path: Any) -> None:
    install = tmp_path / "install"
    try:
        done = _run(_script(private_code, install, code_auth_command=f"echo '{TOKEN}'"))
        assert done.returncode == 0, done.stderr
        assert (install / "code-abc" / "marker.txt").read_text() == "code"
        assert '"vm1"' in (install / "agents" / "vm1" / "config.json").read_text()
    finally:
        _stop_agent(install)


def test_without_the_authorization_the_download_fails_and_so_does_the_script(private_code: str,
                                                                              tmp_path: Any) -> None:
    install = tmp_path / "install"
    try:
        assert "401" in _run(_script(private_code, install)).stderr
        failed = _run(_script(private_code, install, code_auth_command="false"))  # no token: stop before fetching
        assert failed.returncode != 0 and not (install / "code-abc.zip").exists()
        assert not (install / "agents" / "vm1" / "agent.pid").exists()
    finally:
        _stop_agent(install)


def test_per_boot_copy_only_where_the_cloud_does_not_rerun_the_user_data(tmp_path: Any) -> None:
    assert PER_BOOT_DIR in _script("http://example.invalid/c.zip", tmp_path)
    assert PER_BOOT_DIR not in _script("http://example.invalid/c.zip", tmp_path, per_boot=False)
