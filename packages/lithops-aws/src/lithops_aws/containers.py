"""Building container images with whichever of docker, podman or buildah is installed, and pushing them to ECR."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from lithops.errors import BackendError
from lithops_aws.aws_lambda.package import build_code_zip
from lithops_aws.session import aws_errors, error_code, make_client

logger = logging.getLogger(__name__)

#: Container tools tried in this order (``LITHOPS_CONTAINER_TOOL`` picks one).
TOOLS = ("docker", "podman", "buildah")
#: Folder of the build context holding Lithops' code (the same as the Lambda zip).
CODE_FOLDER = "lithops_code"


class NoContainerToolError(BackendError):
    """No docker, podman or buildah on this machine."""


def find_tool() -> str:
    """The container tool to use: ``LITHOPS_CONTAINER_TOOL`` if set, else the first of docker/podman/buildah found."""
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
        "this machine (PATH). Install one of them (e.g. 'apt-get install podman'), or for aws_lambda build a layer "
        "runtime instead: give the runtime a plain name (no ':' or '/') and a requirements.txt, which needs no "
        "container tool."
    )


def _run(cmd: Sequence[str], what: str, stdin: bytes | None = None) -> None:
    logger.info("Running %s", " ".join(cmd[:3]))
    proc = subprocess.run(list(cmd), input=stdin, capture_output=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or b"").decode(errors="replace")[-2000:]
        raise BackendError(f"{what} failed ({' '.join(cmd[:2])} exited with {proc.returncode}): {tail}")


def build_context(dockerfile: str | None, base_image: str, command: Sequence[str] | None,
                  pip_install: Sequence[str] = ()) -> str:
    """A temporary build context: the user's Dockerfile (or ``FROM base_image``) plus Lithops' code and command.

    The caller removes the folder.
    """
    folder = tempfile.mkdtemp(prefix="lithops-image-")
    with zipfile.ZipFile(_zip_file(), "r") as zf:
        zf.extractall(os.path.join(folder, CODE_FOLDER))
    if dockerfile:
        with open(dockerfile, encoding="utf-8") as f:
            text = f.read().rstrip() + "\n"
    else:
        text = f"FROM {base_image}\n"
    if pip_install:
        text += "RUN python3 -m pip install --no-cache-dir " + " ".join(f"'{p}'" for p in pip_install) + "\n"
    text += (
        "\n# added by lithops-aws: the client's Lithops code, on the image's Python path\n"
        f"COPY {CODE_FOLDER}/ /opt/lithops/\n"
        "ENV PYTHONPATH=/opt/lithops${PYTHONPATH:+:${PYTHONPATH}}\n"
    )
    if command:
        text += "CMD [" + ", ".join(f'"{c}"' for c in command) + "]\n"
    with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as f:
        f.write(text)
    return folder


def _zip_file() -> Any:
    import io

    return io.BytesIO(build_code_zip())


def ensure_repository(config: Mapping[str, Any], image_uri: str) -> None:
    """Create the ECR repository of ``image_uri`` if it does not exist."""
    repository = image_uri.split("/", 1)[1].split(":")[0].split("@")[0]
    ecr = make_client(config, "ecr", endpoint=config.get("ecr_endpoint"))
    with aws_errors(f"ECR repository {repository}", config.get("ecr_endpoint")):
        try:
            ecr.describe_repositories(repositoryNames=[repository])
        except Exception as exc:
            if error_code(exc) != "RepositoryNotFoundException":
                raise
            logger.info("Creating ECR repository %s", repository)
            ecr.create_repository(repositoryName=repository, imageScanningConfiguration={"scanOnPush": False})


def registry_login(config: Mapping[str, Any], tool: str, image_uri: str) -> None:
    """Log the container tool in to the image's ECR registry with a token from ECR."""
    ecr = make_client(config, "ecr", endpoint=config.get("ecr_endpoint"))
    with aws_errors("ECR GetAuthorizationToken", config.get("ecr_endpoint")):
        data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    registry = image_uri.split("/", 1)[0]
    _run([tool, "login", "--username", user, "--password-stdin", registry], f"{tool} login to {registry}",
         stdin=password.encode())


def build_image(
    image_uri: str,
    dockerfile: str | None,
    base_image: str,
    command: Sequence[str] | None,
    platform: str,
    extra_args: Sequence[str] = (),
    pip_install: Sequence[str] = (),
) -> str:
    """Build ``image_uri`` locally (the user's Dockerfile or ``base_image``, plus Lithops' code and ``command``)
    with the available container tool; return the tool used.
    """
    tool = find_tool()
    context = build_context(dockerfile, base_image, command, pip_install)
    try:
        build = [tool, "bud"] if tool == "buildah" else [tool, "build"]
        _run([*build, "--platform", platform, "-t", image_uri, "-f", os.path.join(context, "Dockerfile"),
              *extra_args, context], f"building image {image_uri}")
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tool


def build_and_push(
    config: Mapping[str, Any],
    image_uri: str,
    dockerfile: str | None,
    base_image: str,
    command: Sequence[str] | None,
    platform: str,
    extra_args: Sequence[str] = (),
    pip_install: Sequence[str] = (),
) -> str:
    """Build ``image_uri`` with the available container tool and push it to ECR; return the tool used."""
    tool = build_image(image_uri, dockerfile, base_image, command, platform, extra_args, pip_install)
    ensure_repository(config, image_uri)
    registry_login(config, tool, image_uri)
    push = [tool, "push", image_uri] + ([f"docker://{image_uri}"] if tool == "buildah" else [])
    _run(push, f"pushing image {image_uri}")
    return tool
