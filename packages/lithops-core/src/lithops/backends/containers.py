"""Container images for backends that run calls in containers: build with whichever of docker, podman or buildah is
installed, log in to a registry, push.

A backend gives the image's base (the user's Dockerfile or a base image), the code zip its workers need
(``lithops.standalone.bundle.build_bundle`` makes one from the client's installed packages) and the command; the
registry's own login (a token from ECR, Artifact Registry, ...) stays in the backend.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence

from lithops.errors import BackendError

logger = logging.getLogger(__name__)

#: Container tools tried in this order (``LITHOPS_CONTAINER_TOOL`` picks one).
TOOLS = ("docker", "podman", "buildah")
#: Folder of the build context (and of the image, under /opt) holding Lithops' code.
CODE_FOLDER = "lithops_code"


class NoContainerToolError(BackendError):
    """No docker, podman or buildah on this machine."""


def find_tool(hint: str = "") -> str:
    """The container tool to use: ``LITHOPS_CONTAINER_TOOL`` if set, else the first of docker/podman/buildah found.

    ``hint`` (a backend's alternative that needs no container tool) is appended to the error.
    """
    wanted = os.environ.get("LITHOPS_CONTAINER_TOOL")
    candidates = (wanted,) if wanted else TOOLS
    for tool in candidates:
        if tool and shutil.which(tool):
            return tool
    if wanted:
        raise NoContainerToolError(
            f"LITHOPS_CONTAINER_TOOL is {wanted!r}, which is not on PATH. Install it or unset the variable."
        )
    raise NoContainerToolError(
        "building a container image runtime needs docker, podman or buildah, and none of them is installed on "
        "this machine (PATH). Install one of them (e.g. 'apt-get install podman')" + (f", or {hint}" if hint else "")
        + "."
    )


def run_tool(cmd: Sequence[str], what: str, stdin: bytes | None = None) -> None:
    """Run a container tool command; raise :class:`BackendError` with the tail of its output when it fails."""
    logger.info("Running %s", " ".join(cmd[:3]))
    proc = subprocess.run(list(cmd), input=stdin, capture_output=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or b"").decode(errors="replace")[-2000:]
        raise BackendError(f"{what} failed ({' '.join(cmd[:2])} exited with {proc.returncode}): {tail}")


def build_context(code_zip: bytes, dockerfile: str | None, base_image: str, command: Sequence[str] | None,
                  pip_install: Sequence[str] = (), env: dict[str, str] | None = None) -> str:
    """A temporary build context: the user's Dockerfile (or ``FROM base_image``), then ``pip_install``, Lithops'
    code (``code_zip`` unpacked on the image's Python path), ``env`` and ``command``. The caller removes the folder.
    """
    folder = tempfile.mkdtemp(prefix="lithops-image-")
    with zipfile.ZipFile(io.BytesIO(code_zip), "r") as zf:
        zf.extractall(os.path.join(folder, CODE_FOLDER))
    if dockerfile:
        with open(dockerfile, encoding="utf-8") as f:
            text = f.read().rstrip() + "\n"
    else:
        text = f"FROM {base_image}\n"
    if pip_install:
        text += "RUN python3 -m pip install --no-cache-dir " + " ".join(f"'{p}'" for p in pip_install) + "\n"
    text += (
        "\n# added by Lithops: the client's Lithops code, on the image's Python path\n"
        f"COPY {CODE_FOLDER}/ /opt/lithops/\n"
        "ENV PYTHONPATH=/opt/lithops${PYTHONPATH:+:${PYTHONPATH}}\n"
    )
    for name, value in (env or {}).items():
        text += f'ENV {name}="{value}"\n'
    if command:
        text += "CMD [" + ", ".join(f'"{c}"' for c in command) + "]\n"
    with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as f:
        f.write(text)
    return folder


def build_image(image_uri: str, code_zip: bytes, dockerfile: str | None, base_image: str,
                command: Sequence[str] | None, platform: str, extra_args: Sequence[str] = (),
                pip_install: Sequence[str] = (), env: dict[str, str] | None = None, hint: str = "") -> str:
    """Build ``image_uri`` locally (see :func:`build_context`) for ``platform`` (e.g. ``linux/amd64``) with the
    available container tool; return the tool used. ``hint`` is passed to :func:`find_tool`.
    """
    tool = find_tool(hint)
    context = build_context(code_zip, dockerfile, base_image, command, pip_install, env)
    try:
        build = [tool, "bud"] if tool == "buildah" else [tool, "build"]
        run_tool([*build, "--platform", platform, "-t", image_uri, "-f", os.path.join(context, "Dockerfile"),
                  *extra_args, context], f"building image {image_uri}")
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tool


def registry_login(tool: str, registry: str, username: str, password: str) -> None:
    """Log ``tool`` in to ``registry`` (the password goes through stdin, never the command line)."""
    run_tool([tool, "login", "--username", username, "--password-stdin", registry], f"{tool} login to {registry}",
             stdin=password.encode())


def push_image(tool: str, image_uri: str) -> None:
    """Push ``image_uri`` (already built by ``tool``, registry already logged in to)."""
    push = [tool, "push", image_uri] + ([f"docker://{image_uri}"] if tool == "buildah" else [])
    run_tool(push, f"pushing image {image_uri}")
