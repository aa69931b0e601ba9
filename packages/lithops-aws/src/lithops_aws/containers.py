"""Container image runtimes on AWS: built by the kernel's container tools (``lithops.backends.containers``) with the
Lambda code zip inside, and pushed to ECR (repository created when missing, login with an ECR token).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lithops.backends import containers
from lithops_aws.aws_lambda.package import build_code_zip
from lithops_aws.session import aws_errors, error_code, make_client

logger = logging.getLogger(__name__)

#: What a Lambda user can do without any container tool.
NO_TOOL_HINT = ("for aws_lambda build a layer runtime instead: give the runtime a plain name (no ':' or '/') and a "
                "requirements.txt, which needs no container tool")


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
    containers.registry_login(tool, image_uri.split("/", 1)[0], user, password)


def build_image(image_uri: str, dockerfile: str | None, base_image: str, command: Sequence[str] | None,
                platform: str, extra_args: Sequence[str] = (), pip_install: Sequence[str] = ()) -> str:
    """Build ``image_uri`` locally with the Lambda code zip inside; return the container tool used."""
    return containers.build_image(image_uri, build_code_zip(), dockerfile, base_image, command, platform,
                                  extra_args, pip_install, hint=NO_TOOL_HINT)


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
    containers.push_image(tool, image_uri)
    return tool
