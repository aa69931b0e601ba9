"""The ``aliyun_fc`` runtime builder: dependency layers (no container tool) and custom-container images.

``deploy_mode: runtime``: ``build(name, file)`` installs the requirements ``file`` (plus the OSS SDK the workers
need) with ``pip install --target`` for FC's platform (manylinux wheels for x86_64 up to the glibc of FC's Debian
based runtimes and the client's Python version, binary wheels only: nothing is compiled, no container is needed),
zips them under ``python/`` and publishes the layer ``lithops_<name>_py<XY>``; the next job uses it.

``deploy_mode: custom-container``: ``build(name, file)`` builds the image ``name`` (a Container Registry URI such
as ``registry.cn-hangzhou.aliyuncs.com/<namespace>/lithops-fc:1``) from the Dockerfile ``file`` (or a Python base
image of the client's version) with Lithops' code added and FC's command, then pushes it (log in to the registry
first: ``docker login registry.<region>.aliyuncs.com``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lithops.backends.containers import build_image, find_tool, push_image
from lithops.backends.layers import manylinux_platforms, zip_folder
from lithops.backends.runtime import CLIENT_PYTHON, RuntimeBuilder
from lithops.errors import BackendError
from lithops.plugins.specs import ConfigKey
from lithops_aliyun.fc.functions import FCFunctions
from lithops_aliyun.fc.package import CONTAINER_COMMAND, LAYER_PACKAGES, build_code_zip
from lithops_aliyun.plugin import FC_CONFIG

#: glibc (2.x) of FC's managed Python runtimes (Debian 10).
FC_GLIBC = 28


def pip_platforms(glibc: int = FC_GLIBC, machine: str = "x86_64") -> list[str]:
    """Wheel platform tags that run on FC's runtimes: manylinux2014 and each manylinux_2_X up to their glibc."""
    return manylinux_platforms(glibc, machine)


def pip_command(target: str, requirements: Sequence[str], python: str = CLIENT_PYTHON) -> list[str]:
    """The pip command that installs ``requirements`` (specifiers, or ``-r file``) into ``target`` for FC."""
    platforms = [arg for tag in pip_platforms() for arg in ("--platform", tag)]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--target", target, "--implementation", "cp", "--python-version", python, "--only-binary=:all:",
            *platforms, *requirements]


def build_layer_zip(requirements: Sequence[str]) -> bytes:
    """A layer zip (packages under ``python/``) of :data:`LAYER_PACKAGES` and ``requirements`` for FC's platform."""
    folder = tempfile.mkdtemp(prefix="lithops-fc-layer-")
    try:
        target = os.path.join(folder, "python")
        proc = subprocess.run(pip_command(target, [*LAYER_PACKAGES, *requirements]), capture_output=True,
                              text=True, timeout=900)
        if proc.returncode != 0:
            raise BackendError(f"pip could not install the runtime's packages for Function Compute (Python "
                               f"{CLIENT_PYTHON}, manylinux x86_64 wheels only): {proc.stderr.strip()[-1500:]}. A "
                               f"package without such a wheel needs deploy_mode custom-container.")
        return zip_folder(target, "python")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class FCRuntimeBuilder(RuntimeBuilder):
    """Builds, deploys, lists and deletes ``aliyun_fc`` runtimes.

    Args:
        config: the ``aliyun_fc`` section.
        lithops_config: the whole config.
    """

    config_schema: ClassVar[Mapping[str, ConfigKey]] = FC_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any]) -> None:
        super().__init__(config, lithops_config)
        self.functions = FCFunctions(self.config)

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build runtime ``name``: a dependency layer from a requirements ``file``, or in custom-container mode an
        image from a Dockerfile ``file``, pushed to its registry.
        """
        if self.functions.mode == "custom-container":
            tool = find_tool("or use deploy_mode: runtime, whose layers need no container tool")
            build_image(name, build_code_zip(), file, f"python:{CLIENT_PYTHON}-slim", list(CONTAINER_COMMAND),
                        "linux/amd64", extra_args or (), pip_install=LAYER_PACKAGES)
            push_image(tool, name)
            return
        self.functions.check_managed_python(name)
        self.functions.publish_layer(name, build_layer_zip(["-r", file] if file else []))

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Deploy (or update) the function of runtime ``name``; return its runtime metadata."""
        if timeout is not None:
            self.functions.config["runtime_timeout"] = int(timeout)
        info = self.functions.ensure(name, int(memory or self.config["runtime_memory"]))
        return {"runtime_name": info.runtime, "function_name": info.name, "memory": info.memory,
                "python_version": info.python}

    def list(self) -> list[dict[str, Any]]:
        """Lithops' functions of this deployment."""
        return self.functions.list()

    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete the functions of runtime ``name`` (of one memory size, or all)."""
        self.functions.delete(name, memory)
