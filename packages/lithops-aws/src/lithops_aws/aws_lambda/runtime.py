"""The ``aws_lambda`` runtime builder: dependency layers (no container tool) and container images.

``build(name, file)`` with a plain ``name`` makes a layer runtime: the requirements ``file`` is installed with
``pip install --target`` for Lambda's platform (manylinux wheels for the function's architecture and the client's
Python version, binary wheels only, so nothing is compiled and no container is needed), zipped and published as
the layer ``lithops_<name>_py<XY>_<arch>``. A ``name`` with ``:`` or ``/`` makes a container image from the
Dockerfile ``file`` (or the Lambda Python base image), with Lithops' code added, pushed to ECR.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends.layers import manylinux_platforms, zip_folder
from lithops.backends.runtime import RuntimeBuilder
from lithops.errors import BackendError
from lithops.plugins.specs import ConfigKey
from lithops_aws import containers
from lithops_aws.aws_lambda.functions import CLIENT_PYTHON, LambdaFunctions, is_image, layer_name
from lithops_aws.aws_lambda.package import CODE_MODULES, DEFAULT_LAYER_PACKAGES, HANDLER
from lithops_aws.plugin import LAMBDA_CONFIG, apply_aliases
from lithops_aws.session import aws_errors

logger = logging.getLogger(__name__)

#: Machine names of Lambda's architectures in wheel platform tags.
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
#: glibc of Lambda's Python runtimes: python3.8-3.11 run on Amazon Linux 2 (glibc 2.26), later ones on Amazon
#: Linux 2023 (glibc 2.34).
AL2_GLIBC, AL2023_GLIBC = 26, 34


def lambda_glibc(python: str) -> int:
    """Minor glibc version (2.x) of Lambda's runtime for Python ``python``."""
    major, minor = (int(p) for p in python.split(".")[:2])
    return AL2_GLIBC if (major, minor) <= (3, 11) else AL2023_GLIBC


def pip_platforms(python: str, architecture: str) -> list[str]:
    """Wheel platform tags that run on Lambda's ``python`` runtime and architecture: manylinux2014 and every
    manylinux_2_X up to that runtime's glibc (a newer wheel installs, then fails to import on Lambda).
    """
    return manylinux_platforms(lambda_glibc(python), MACHINES[architecture])
#: Largest layer zip uploaded inline; bigger ones go through the storage bucket.
INLINE_LAYER_BYTES = 45 * 1024 * 1024
#: Lambda's limit of a function and its layers, unzipped.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


def _folder_size(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)


class LambdaRuntimeBuilder(RuntimeBuilder):
    """Builds, deploys, lists and deletes ``aws_lambda`` runtimes.

    Args:
        config: the ``aws_lambda`` section.
        lithops_config: the whole config (its ``aws_s3`` section is used for layers over 45 MiB).
    """

    config_schema: ClassVar[Mapping[str, ConfigKey]] = LAMBDA_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(apply_aliases(config, "aws_lambda"), lithops_config or {})
        self.functions = LambdaFunctions(self.config)
        self.architecture = self.functions.architecture

    # -- layers ----------------------------------------------------------------------------------------------
    def pip_command(self, target: str, requirements: str | None, extra_args: list[str] | None = None) -> list[str]:
        """The pip command that installs ``requirements`` into ``target`` for Lambda's platform."""
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", target,
               "--implementation", "cp", "--python-version", CLIENT_PYTHON, "--only-binary=:all:", "--upgrade"]
        for platform in pip_platforms(CLIENT_PYTHON, self.architecture):
            cmd += ["--platform", platform]
        if requirements:
            cmd += ["-r", requirements]
        elif not extra_args:
            cmd += list(DEFAULT_LAYER_PACKAGES)
        return cmd + list(extra_args or [])

    def build_layer_zip(self, requirements: str | None, extra_args: list[str] | None = None) -> bytes:
        """Install the requirements (Lithops 3.x's default layer packages when there are none) for Lambda's
        platform and return the layer zip (``python/...``).
        """
        if requirements and not os.path.isfile(requirements):
            raise FileNotFoundError(f"requirements file {requirements} does not exist")
        folder = tempfile.mkdtemp(prefix="lithops-layer-")
        try:
            target = os.path.join(folder, "python")
            os.makedirs(target)
            proc = subprocess.run(self.pip_command(target, requirements, extra_args), capture_output=True, text=True)
            if proc.returncode != 0:
                raise BackendError(
                    f"pip could not get wheels of the requirements for Lambda (Python {CLIENT_PYTHON}, "
                    f"{self.architecture}, glibc 2.{lambda_glibc(CLIENT_PYTHON)}): {proc.stderr.strip()[-2000:]}. "
                    f"Every package needs a binary wheel for manylinux2014 or manylinux_2_X with X at most "
                    f"{lambda_glibc(CLIENT_PYTHON)} on {MACHINES[self.architecture]} (no compiling): pin versions "
                    f"that publish one."
                )
            for name in os.listdir(target):  # Lithops' own code ships in the function: never shadow it
                base = name.split("-")[0].split(".")[0]
                if base in CODE_MODULES or name.startswith(("lithops_core-", "lithops_aws-")) or name == "bin":
                    shutil.rmtree(os.path.join(target, name), ignore_errors=True)
            size = _folder_size(target)
            if size > MAX_UNZIPPED_BYTES:
                raise BackendError(
                    f"the layer is {size / 2**20:.0f} MiB unzipped, over Lambda's 250 MiB limit. Trim the "
                    f"requirements, or build a container image runtime (up to 10 GiB)."
                )
            return zip_folder(target, "python")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def publish_layer(self, name: str, data: bytes) -> str:
        """Publish a layer version of runtime ``name``; return its ARN."""
        content: dict[str, Any]
        if len(data) <= INLINE_LAYER_BYTES:
            content = {"ZipFile": data}
        else:
            from lithops.storage.storage import Storage

            storage = Storage(config=dict(self.lithops_config), backend="aws_s3")
            key = f"lithops.runtimes/{layer_name(name, CLIENT_PYTHON, self.architecture)}.zip"
            storage.put_object(storage.bucket, key, data)
            content = {"S3Bucket": storage.bucket, "S3Key": key}
        with aws_errors("Lambda PublishLayerVersion", self.functions.endpoint):
            response = self.functions.client.publish_layer_version(
                LayerName=layer_name(name, CLIENT_PYTHON, self.architecture),
                Description=f"Lithops runtime {name} (dependencies)",
                Content=content,
                CompatibleRuntimes=[f"python{CLIENT_PYTHON}"],
                CompatibleArchitectures=[self.architecture],
            )
        return str(response["LayerVersionArn"])

    # -- the contract ----------------------------------------------------------------------------------------
    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build runtime ``name``: a layer from the requirements ``file``, or an image from the Dockerfile ``file``."""
        if is_image(name):
            uri = self.functions.image_uri(name)
            platform = "linux/arm64" if self.architecture == "arm64" else "linux/amd64"
            containers.build_and_push(self.config, uri, file, f"public.ecr.aws/lambda/python:{CLIENT_PYTHON}",
                                      [HANDLER], platform, extra_args or ())
            logger.info("Runtime image %s built and pushed", uri)
            return
        data = self.build_layer_zip(file, extra_args)
        arn = self.publish_layer(name, data)
        logger.info("Runtime %s built: layer %s (%.1f MiB)", name, arn, len(data) / 2**20)

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Deploy (or update) the function of runtime ``name`` and return its metadata."""
        if timeout is not None:
            self.functions.config["runtime_timeout"] = timeout
        memory = int(memory or self.config["runtime_memory"])
        name = self.functions.runtime_name(name)
        self.functions.forget(name, memory)  # look again: a rebuilt layer or a new setting is applied to it
        info = self.functions.ensure(name, memory)
        return {"runtime_name": name, "function_name": info.name, "memory": memory, "python_version": info.python,
                "arn": info.arn}

    def list(self) -> list[dict[str, Any]]:
        """The deployed Lithops functions."""
        return self.functions.list()

    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete the functions of runtime ``name`` (of one memory size, or all)."""
        self.functions.delete(name, memory)
