"""A real container image runtime: built with podman from a local root file system (no registry, no network), and
Lithops' Lambda handler run inside it. Skipped where podman is not installed.

The base image is made from this machine's own ``/usr/bin/python3`` and its standard library and shared libraries,
so it needs nothing from the network; the build uses ``--network none`` (no bridge, no NAT changes). The handler
runs in the image's own file system (``podman export`` of a created container, then ``chroot``, with the image's
environment and command): starting a container needs cgroup controllers that machines like this one (hybrid
cgroups) do not give.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from typing import Any

import pytest

import lithops
from lithops_aws import containers
from lithops_aws.aws_lambda.package import HANDLER

pytestmark = pytest.mark.skipif(shutil.which("podman") is None,
                                reason="podman is not installed (apt-get install podman) to build a real image")

SYSTEM_PYTHON = "/usr/bin/python3"
_SKIP_DIRS = {"test", "__pycache__", "idlelib", "tkinter", "ensurepip", "lib2to3", "turtledemo"}


def _python() -> tuple[str, str]:
    """The system Python's binary and its version (X.Y)."""
    binary = os.path.realpath(SYSTEM_PYTHON)
    version = subprocess.run([binary, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return binary, version


def _libraries(elf: str) -> set[str]:
    """The shared libraries (and loader) an executable or extension module needs, from ldd."""
    out = subprocess.run(["ldd", elf], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts else ""
        if path.startswith("/"):
            found.add(path)
    return found


def make_rootfs_tar(target: str) -> str:
    """A root file system tarball with this machine's Python, its standard library and the libraries they load."""
    binary, version = _python()
    stdlib = f"/usr/lib/python{version}"
    files, libs = {binary}, _libraries(binary)
    for folder, dirs, names in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in names:
            path = os.path.join(folder, name)
            files.add(path)
            if name.endswith(".so"):
                libs |= _libraries(path)
    with tarfile.open(target, "w") as tar:
        for path in sorted(files | libs):
            tar.add(os.path.realpath(path), arcname=path.lstrip("/"), recursive=False)
        link = tarfile.TarInfo("usr/bin/python3")
        link.type, link.linkname = tarfile.SYMTYPE, os.path.basename(binary)
        tar.addfile(link)
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)
    return version


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: Any) -> tuple[str, str]:
    """``(image, python version)`` of a local base image imported from the root file system."""
    tar = str(tmp_path_factory.mktemp("rootfs") / "rootfs.tar")
    version = make_rootfs_tar(tar)
    image = f"localhost/lithops-test-python:{version}"
    subprocess.run(["podman", "import", tar, image], check=True, capture_output=True, timeout=300)
    yield image, version
    subprocess.run(["podman", "rmi", "-f", image], capture_output=True, timeout=120)


def test_lambda_image_built_with_podman_runs_the_handler(base_image: tuple[str, str], tmp_path: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    image, version = base_image
    monkeypatch.setenv("LITHOPS_CONTAINER_TOOL", "podman")
    uri = "localhost/lithops-test-runtime:1"
    try:
        tool = containers.build_image(uri, None, image, [HANDLER], "linux/amd64", ["--network", "none"])
        assert tool == "podman"
        probe = ("import json; from lithops_aws.aws_lambda.entry_point import lambda_handler; "
                 "print(json.dumps(lambda_handler({'lithops_action': 'metadata'}, None)))")
        inspect = json.loads(subprocess.run(["podman", "image", "inspect", uri], capture_output=True, text=True,
                                            check=True).stdout)[0]["Config"]
        assert inspect["Cmd"] == [HANDLER]
        env = dict(e.split("=", 1) for e in inspect["Env"])
        root = tmp_path / "image-root"
        root.mkdir()
        container = subprocess.run(["podman", "create", uri], capture_output=True, text=True, check=True,
                                   timeout=120).stdout.strip()
        try:
            exported = subprocess.run(["podman", "export", container], capture_output=True, check=True, timeout=300)
        finally:
            subprocess.run(["podman", "rm", "-f", container], capture_output=True, timeout=60)
        with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
            tar.extractall(root)
        run = subprocess.run(["chroot", str(root), "/usr/bin/python3", "-c", probe], env=env, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        meta = json.loads(run.stdout.strip().splitlines()[-1])
        assert meta["python_version"] == version
        assert meta["lithops_version"] == lithops.__version__
        assert env["PYTHONPATH"].startswith("/opt/lithops")
    finally:
        subprocess.run(["podman", "rmi", "-f", uri], capture_output=True, timeout=120)
