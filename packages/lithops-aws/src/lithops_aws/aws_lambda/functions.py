"""Lambda control plane: naming, deploying, finding, checking and deleting Lithops' functions and their role.

A runtime is one of:

* the default runtime (``aws_lambda.runtime`` unset): Lithops' code zip (``package.py``) on Lambda's Python runtime
  of the client's version, no layer;
* a layer runtime (a plain name such as ``numpy-runtime``): the same code zip plus the layer
  ``lithops_<name>_py<XY>_<arch>`` made by the runtime builder from a requirements file;
* a container image (a name with ``:`` or ``/``, e.g. ``my-runtime:1`` or a full ECR URI), built and pushed to
  ECR by the runtime builder.

One function per runtime, memory size and Lithops version: ``lithops-worker-<version>-<runtime>-<memory>mb``.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lithops.backends.ready import ReadyCache
from lithops.config import backend_settings
from lithops.constants import PROTOCOL_VERSION
from lithops.errors import BackendError
from lithops_aws import __version__
from lithops_aws.aws_lambda.package import HANDLER, build_code_zip, code_digest
from lithops_aws.plugin import LAMBDA_CONFIG, apply_aliases
from lithops_aws.session import aws_errors, error_code, make_client, region_of

logger = logging.getLogger(__name__)

CLIENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
DEFAULT_ROLE_NAME = "lithops-lambda-role"
#: Lambda's Python runtimes (the client's version must be one of them for zip runtimes).
LAMBDA_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
TAG_PYTHON, TAG_PROTOCOL = "lithops_python", "lithops_protocol"
TAG_CODE, TAG_RUNTIME = "lithops_code", "lithops_runtime"
_NAME_RE = re.compile(r"[^A-Za-z0-9-]+")

_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
_ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "arn:aws:logs:*:*:*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket",
                                       "s3:HeadBucket", "s3:AbortMultipartUpload"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                                       "ec2:DeleteNetworkInterface"], "Resource": "*"},
    ],
}


#: MiB of function memory that come with one vCPU (Lambda gives up to 6 vCPUs, at 10,240 MiB).
MIB_PER_VCPU = 1769


def worker_processes(config: Mapping[str, Any], memory: int) -> int:
    """Calls one invocation runs at once: ``worker_processes``, or with AUTO the vCPUs of ``memory`` MiB."""
    value = config["worker_processes"]
    if value == "AUTO":
        return max(1, min(6, -(-memory // MIB_PER_VCPU)))
    return int(value)


def default_runtime_name() -> str:
    """Name of the built-in runtime for the client's Python version."""
    return f"default-runtime-v{sys.version_info.major}{sys.version_info.minor}"


def is_image(runtime: str) -> bool:
    """Whether a runtime name is a container image (it has a tag or a registry/repository path)."""
    return ":" in runtime or "/" in runtime


def layer_name(runtime: str, python: str = CLIENT_PYTHON, architecture: str = "x86_64") -> str:
    """Name of the Lambda layer that holds the dependencies of layer runtime ``runtime``."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", runtime)
    return f"lithops_{base}_py{python.replace('.', '')}_{architecture}"[:140]


def function_name(runtime: str, memory: int, architecture: str = "x86_64", version: str = __version__,
                  user_key: str = "", namespace: str = "") -> str:
    """The Lambda function of a runtime and memory size for this Lithops version, user and namespace (at most 64
    characters): ``[<namespace>-]lithops-worker-[<user key>-]<version>-<runtime>-<memory>mb[-arm64]``.
    """
    short = runtime.rsplit("/", 1)[-1]
    base = _NAME_RE.sub("-", short).strip("-") or "runtime"
    ver = _NAME_RE.sub("-", version).strip("-")
    arch = "" if architecture == "x86_64" else f"-{architecture}"
    head = function_prefix(user_key, namespace) + ver
    name = f"{head}-{base}-{memory}mb{arch}"
    if len(name) > 64 or short != runtime:
        digest = hashlib.sha1(f"{runtime}|{memory}|{architecture}|{version}".encode(), usedforsecurity=False)
        tail = f"-{digest.hexdigest()[:8]}-{memory}mb{arch}"
        name = f"{head}-{base}"[: 64 - len(tail)].rstrip("-") + tail
    return name


def function_prefix(user_key: str = "", namespace: str = "") -> str:
    """How the names of one user's (and namespace's) functions start."""
    ns = _NAME_RE.sub("-", namespace).strip("-")
    return f"{ns + '-' if ns else ''}lithops-worker-{user_key + '-' if user_key else ''}"


@dataclass
class FunctionInfo:
    """A deployed function Lithops can invoke."""

    name: str
    arn: str
    runtime: str
    memory: int
    python: str
    image: bool


class LambdaFunctions:
    """Control-plane operations of the ``aws_lambda`` backend and its runtime builder.

    Args:
        config: the ``aws_lambda`` section (its defaults filled in here, as a backend's are).
    """

    #: Seconds to wait for a new function to become Active, and for a new IAM role to be usable.
    ACTIVE_TIMEOUT, ROLE_PROPAGATION_TIMEOUT = 300.0, 60.0

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = backend_settings("aws_lambda", apply_aliases(config, "aws_lambda"), LAMBDA_CONFIG)
        self.region = region_of(self.config)
        self.architecture = str(self.config.get("architecture") or "x86_64")
        self.endpoint = self.config.get("endpoint")
        self.client = make_client(self.config, "lambda", endpoint=self.endpoint, max_attempts=5,
                                  read_timeout=max(60, int(self.config["runtime_timeout"]) + 10))
        #: for asynchronous invocations: no boto3 retries, the backend retries throttling with its own backoff
        self.invoke_client = make_client(
            self.config, "lambda", endpoint=self.endpoint, max_attempts=1, connect_timeout=10, read_timeout=30,
            max_pool_connections=int(self.config["invoke_pool_threads"]) + 4)
        self._ready: ReadyCache[tuple[str, int], FunctionInfo] = ReadyCache()
        self._role_created_at: float | None = None

    # -- names -----------------------------------------------------------------------------------------------
    def runtime_name(self, runtime: str | None = None) -> str:
        """The runtime to use: the given one, the configured one, or the default."""
        return runtime or self.config.get("runtime") or default_runtime_name()

    def function_name(self, runtime: str | None, memory: int) -> str:
        """The function of ``runtime`` (resolved) with ``memory`` MiB, for this user and namespace."""
        return function_name(self.runtime_name(runtime), memory, self.architecture, user_key=self.user_key(),
                             namespace=str(self.config.get("namespace") or ""))

    @property
    def prefix(self) -> str:
        """How the names of this user's (and namespace's) functions start."""
        return function_prefix(self.user_key(), str(self.config.get("namespace") or ""))

    def _identity(self) -> None:
        sts = make_client(self.config, "sts", endpoint=self.config.get("sts_endpoint"))
        with aws_errors("STS GetCallerIdentity", self.config.get("sts_endpoint")):
            identity = sts.get_caller_identity()
        self.config.setdefault("account_id", None)
        self.config["account_id"] = self.config["account_id"] or identity["Account"]
        self.config["user_id"] = identity["UserId"]

    def _account_id(self) -> str:
        if not self.config.get("account_id"):
            self._identity()
        return str(self.config["account_id"])

    def user_key(self) -> str:
        """Last four characters of the caller's user id (as Lithops names functions): functions of different
        identities in one account never overwrite each other's code.
        """
        if not self.config.get("user_id"):
            self._identity()
        return _NAME_RE.sub("", str(self.config["user_id"]).split(":")[0][-4:]).lower()

    def image_uri(self, runtime: str) -> str:
        """The ECR image URI of a container runtime (``name:tag`` is taken from this account's registry)."""
        first = runtime.split("/", 1)[0]
        if "/" in runtime and ("." in first or ":" in first):  # it names its registry
            uri = runtime
        else:
            uri = f"{self._account_id()}.dkr.ecr.{self.region}.amazonaws.com/{runtime}"
        if ":" not in uri.rsplit("/", 1)[-1] and "@" not in uri:
            uri += ":latest"
        return uri

    # -- role ------------------------------------------------------------------------------------------------
    def execution_role(self) -> str:
        """The configured ``execution_role``, or the ARN of ``lithops-lambda-role`` (created when missing)."""
        if self.config.get("execution_role"):
            return str(self.config["execution_role"])
        iam = make_client(self.config, "iam", endpoint=self.config.get("iam_endpoint"))
        with aws_errors("IAM role for Lambda", self.config.get("iam_endpoint")):
            try:
                arn: str = iam.get_role(RoleName=DEFAULT_ROLE_NAME)["Role"]["Arn"]
            except Exception as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
                logger.info("Creating IAM role %s for Lithops' Lambda functions", DEFAULT_ROLE_NAME)
                arn = iam.create_role(
                    RoleName=DEFAULT_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY),
                    Description="Role of Lithops' Lambda functions: logs, S3 and Lambda invoke",
                )["Role"]["Arn"]
                iam.put_role_policy(RoleName=DEFAULT_ROLE_NAME, PolicyName="lithops-lambda",
                                    PolicyDocument=json.dumps(_ROLE_POLICY))
                self._role_created_at = time.monotonic()
        self.config["execution_role"] = arn
        return arn

    def delete_default_role(self) -> None:
        """Delete ``lithops-lambda-role`` and its policy (missing is fine)."""
        iam = make_client(self.config, "iam", endpoint=self.config.get("iam_endpoint"))
        with aws_errors("IAM role deletion", self.config.get("iam_endpoint")):
            for call, args in ((iam.delete_role_policy, {"PolicyName": "lithops-lambda"}), (iam.delete_role, {})):
                try:
                    call(RoleName=DEFAULT_ROLE_NAME, **args)
                except Exception as exc:
                    if error_code(exc) != "NoSuchEntity":
                        raise

    # -- layers ----------------------------------------------------------------------------------------------
    def latest_layer(self, runtime: str) -> str | None:
        """ARN (with version) of the newest layer of a layer runtime for this Python and architecture."""
        with aws_errors("Lambda ListLayerVersions", self.endpoint):
            try:
                versions = self.client.list_layer_versions(LayerName=layer_name(runtime, CLIENT_PYTHON,
                                                                                self.architecture))
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return None
                raise
        found = versions.get("LayerVersions") or []
        if not found:
            return None
        return str(max(found, key=lambda v: v["Version"])["LayerVersionArn"])

    # -- functions -------------------------------------------------------------------------------------------
    def get(self, name: str) -> dict[str, Any] | None:
        """``GetFunction`` of ``name``, or None when it does not exist."""
        with aws_errors(f"Lambda GetFunction {name}", self.endpoint):
            try:
                return dict(self.client.get_function(FunctionName=name))
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return None
                raise

    def ensure(self, runtime: str | None, memory: int) -> FunctionInfo:
        """The function for ``runtime`` and ``memory``: deployed when missing, updated when its Lithops code
        differs, and checked to run the client's Python version (cached after the first call).
        """
        name = self.runtime_name(runtime)
        return self._ready.get((name, memory), lambda: self._ensure(name, memory))

    def forget(self, runtime: str | None, memory: int) -> None:
        """Drop the cached state of a function (it was deleted or changed behind our back)."""
        self._ready.forget((self.runtime_name(runtime), memory))

    def _ensure(self, runtime: str, memory: int) -> FunctionInfo:
        name = self.function_name(runtime, memory)
        found = self.get(name)
        if found is None:
            found = self.deploy(runtime, memory)
        conf = found["Configuration"]
        state = conf.get("State")
        if state == "Inactive":
            conf = self._reactivate(name)
        elif state in ("Pending", None) or conf.get("LastUpdateStatus") == "InProgress":
            conf = self._wait_active(name)
        elif state == "Failed":
            raise BackendError(
                f"Lambda function {name} is in state Failed ({conf.get('StateReason')}). Delete it "
                f"(LambdaRuntimeBuilder.delete or the AWS console) and run again to redeploy it."
            )
        tags = dict(found.get("Tags") or {})
        image = conf.get("PackageType") == "Image"
        if not image and tags.get(TAG_CODE) != code_digest()[:16]:
            logger.info("Updating the Lithops code of Lambda function %s", name)
            with aws_errors(f"Lambda UpdateFunctionCode {name}", self.endpoint):
                self.client.update_function_code(FunctionName=name, ZipFile=build_code_zip())
                self._wait_active(name)
                self.client.tag_resource(Resource=conf["FunctionArn"], Tags={TAG_CODE: code_digest()[:16]})
        changes = self.drift(conf, self.configuration(runtime, memory))
        if changes:
            # the function was deployed with other settings (another config, an older client): apply ours, or
            # the client would assume a timeout, environment or layer the function does not have
            logger.info("Updating the configuration of Lambda function %s: %s", name, ", ".join(sorted(changes)))
            with aws_errors(f"Lambda UpdateFunctionConfiguration {name}", self.endpoint):
                self.client.update_function_configuration(FunctionName=name, **changes)
            conf = self._wait_active(name)
        python = self._python_of(conf, tags)
        self.check_python(runtime, name, python)
        return FunctionInfo(name=name, arn=conf["FunctionArn"], runtime=runtime, memory=memory, python=python,
                            image=image)

    def _python_of(self, conf: Mapping[str, Any], tags: dict[str, str]) -> str:
        lambda_runtime = str(conf.get("Runtime") or "")
        if lambda_runtime.startswith("python"):
            return lambda_runtime[len("python"):]
        if tags.get(TAG_PYTHON):
            return tags[TAG_PYTHON]
        meta = self.metadata(conf["FunctionName"])
        if int(meta.get("protocol") or 0) != PROTOCOL_VERSION:
            raise BackendError(
                f"the image of Lambda function {conf['FunctionName']} has Lithops job protocol "
                f"{meta.get('protocol')} (lithops {meta.get('lithops_version')}), this client speaks "
                f"{PROTOCOL_VERSION}. Rebuild the image with this client's lithops-core and lithops-aws."
            )
        with aws_errors("Lambda TagResource", self.endpoint):
            self.client.tag_resource(Resource=conf["FunctionArn"], Tags={
                TAG_PYTHON: str(meta["python_version"]), TAG_PROTOCOL: str(meta.get("protocol"))})
        return str(meta["python_version"])

    @staticmethod
    def check_python(runtime: str, name: str, python: str) -> None:
        """Raise when the runtime's Python is not the client's: cloudpickle needs the same minor version."""
        if python == CLIENT_PYTHON:
            return
        if is_image(runtime):
            fix = (f"rebuild the image from a Python {CLIENT_PYTHON} base (e.g. public.ecr.aws/lambda/python:"
                   f"{CLIENT_PYTHON}): 'lithops runtime build -b aws_lambda -f Dockerfile {runtime}', or run this "
                   f"client with Python {python}")
        else:
            fix = (f"run this client with Python {python}, or rebuild and redeploy runtime '{runtime}' from Python "
                   f"{CLIENT_PYTHON} ('lithops runtime build -b aws_lambda -f requirements.txt {runtime}' then "
                   f"'lithops runtime deploy -b aws_lambda {runtime}'), or unset aws_lambda.runtime to use the "
                   f"default runtime of Python {CLIENT_PYTHON}")
        raise BackendError(
            f"the Lambda runtime '{runtime}' (function {name}) runs Python {python}, but this client runs Python "
            f"{CLIENT_PYTHON}: functions pickled by one Python version may not load in another. To fix it, {fix}."
        )

    def metadata(self, name: str) -> dict[str, Any]:
        """Ask a function for its runtime metadata (a synchronous invocation)."""
        with aws_errors(f"Lambda Invoke {name} (metadata)", self.endpoint):
            response = self.client.invoke(FunctionName=name, InvocationType="RequestResponse",
                                          Payload=json.dumps({"lithops_action": "metadata"}).encode())
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise BackendError(
                f"Lambda function {name} failed to report its runtime metadata: {body[:500]!r}. Check that its "
                f"image has lithops-core and lithops-aws installed and its command is {HANDLER}."
            )
        result: dict[str, Any] = json.loads(body)
        return result

    def configuration(self, runtime: str, memory: int) -> dict[str, Any]:
        """The settings of the function of ``runtime`` that the config decides (what UpdateFunctionConfiguration
        takes): role, memory, timeout, environment, /tmp size, VPC, EFS and the runtime's newest layer.
        """
        timeout = int(self.config["runtime_timeout"])
        if timeout > 900:
            raise BackendError(f"aws_lambda.runtime_timeout is {timeout} s; Lambda allows at most 900 s.")
        env = {str(k): str(v) for k, v in (self.config.get("env_vars") or {}).items()}
        env.update({"LITHOPS_RUNTIME_TIMEOUT": str(timeout), "LITHOPS_RUNTIME": runtime,
                    "LITHOPS_WORKER_PROCESSES": str(worker_processes(self.config, memory))})
        vpc = self.config.get("vpc") or {}
        efs = self.config.get("efs") or []
        conf: dict[str, Any] = {
            "Role": self.execution_role(),
            "MemorySize": memory,
            "Timeout": timeout,
            "Description": f"Lithops worker, runtime {runtime}, lithops-aws {__version__}",
            "Environment": {"Variables": env},
            "EphemeralStorage": {"Size": int(self.config["ephemeral_storage"])},
            "VpcConfig": {"SubnetIds": list(vpc.get("subnets") or []),
                          "SecurityGroupIds": list(vpc.get("security_groups") or [])},
            "FileSystemConfigs": [{"Arn": e["access_point"], "LocalMountPath": e["mount_path"]} for e in efs],
        }
        if not is_image(runtime) and runtime != default_runtime_name():
            layer = self.latest_layer(runtime)
            if layer is None:
                raise BackendError(
                    f"Lambda runtime '{runtime}' has no layer for Python {CLIENT_PYTHON} on {self.architecture} "
                    f"(layer {layer_name(runtime, CLIENT_PYTHON, self.architecture)}). Build it first: "
                    f"'lithops runtime build -b aws_lambda -f requirements.txt {runtime}' (or "
                    f"LambdaRuntimeBuilder.build), or unset aws_lambda.runtime to use the default runtime."
                )
            conf["Layers"] = [layer]
        return conf

    @staticmethod
    def drift(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
        """The settings of ``wanted`` (see :meth:`configuration`) that the deployed function ``current`` lacks."""
        vpc = current.get("VpcConfig") or {}
        have = {
            "Role": current.get("Role"),
            "MemorySize": current.get("MemorySize"),
            "Timeout": current.get("Timeout"),
            "Description": current.get("Description"),
            "Environment": {"Variables": dict((current.get("Environment") or {}).get("Variables") or {})},
            "EphemeralStorage": {"Size": int((current.get("EphemeralStorage") or {}).get("Size") or 512)},
            "VpcConfig": {"SubnetIds": list(vpc.get("SubnetIds") or []),
                          "SecurityGroupIds": list(vpc.get("SecurityGroupIds") or [])},
            "FileSystemConfigs": [{"Arn": f["Arn"], "LocalMountPath": f["LocalMountPath"]}
                                  for f in current.get("FileSystemConfigs") or []],
            "Layers": [layer["Arn"] for layer in current.get("Layers") or []],
        }
        return {k: v for k, v in wanted.items() if have.get(k) != v}

    def deploy(self, runtime: str, memory: int) -> dict[str, Any]:
        """Create the function of ``runtime`` with ``memory`` MiB (waits until it is Active) and return it."""
        name = self.function_name(runtime, memory)
        args: dict[str, Any] = {
            "FunctionName": name,
            **self.configuration(runtime, memory),
            "Architectures": [self.architecture],
            "Tags": {**{str(k): str(v) for k, v in (self.config.get("user_tags") or {}).items()},
                     TAG_RUNTIME: runtime[:256], TAG_PROTOCOL: str(PROTOCOL_VERSION)},
        }
        if not args["VpcConfig"]["SubnetIds"]:
            del args["VpcConfig"]
        if not args["FileSystemConfigs"]:
            del args["FileSystemConfigs"]
        if is_image(runtime):
            args.update(PackageType="Image", Code={"ImageUri": self.image_uri(runtime)})
        else:
            if CLIENT_PYTHON not in LAMBDA_PYTHONS:
                raise BackendError(
                    f"Lambda has no Python {CLIENT_PYTHON} runtime (it has {', '.join(LAMBDA_PYTHONS)}). Run the "
                    f"client with one of those, or use a container image runtime."
                )
            args.update(Runtime=f"python{CLIENT_PYTHON}", Handler=HANDLER, PackageType="Zip",
                        Code={"ZipFile": build_code_zip()})
            args["Tags"].update({TAG_CODE: code_digest()[:16], TAG_PYTHON: CLIENT_PYTHON})
        logger.info("Deploying Lambda function %s (runtime %s, %d MiB)", name, runtime, memory)
        self._create(args)
        with aws_errors(f"Lambda PutFunctionEventInvokeConfig {name}", self.endpoint):
            # an invocation whose calls all wrote their status must never run again
            self.client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
        self._wait_active(name)
        found = self.get(name)
        if found is None:
            raise BackendError(f"Lambda function {name} disappeared right after it was created; run again.")
        return found

    def _create(self, args: dict[str, Any]) -> None:
        # a role created moments ago takes seconds until Lambda can assume it: retry for a while then
        fresh = self._role_created_at is not None
        deadline = (self._role_created_at or 0) + self.ROLE_PROPAGATION_TIMEOUT
        delay = 1.0
        with aws_errors(f"Lambda CreateFunction {args['FunctionName']}", self.endpoint):
            while True:
                try:
                    self.client.create_function(**args)
                    return
                except Exception as exc:
                    code = error_code(exc)
                    if code == "ResourceConflictException":  # deployed meanwhile by another client
                        return
                    role_problem = code == "InvalidParameterValueException" and "role" in str(exc).lower()
                    if role_problem and fresh and time.monotonic() < deadline:
                        time.sleep(delay)
                        delay = min(delay * 1.5, 5.0)
                        continue
                    if role_problem:
                        raise BackendError(
                            f"Lambda cannot assume the execution role {args['Role']} ({exc}). Check that "
                            f"aws_lambda.execution_role names an existing IAM role whose trust policy allows "
                            f"lambda.amazonaws.com, or unset it to let Lithops create {DEFAULT_ROLE_NAME}."
                        ) from None
                    raise

    def _reactivate(self, name: str) -> dict[str, Any]:
        """Wake a function Lambda made Inactive after weeks without invocations, and wait until it is Active.

        Lambda recreates an inactive function's resources when it is invoked (that invocation fails); a dry run
        starts that without running anything.
        """
        logger.info("Lambda function %s is Inactive: reactivating it", name)
        try:
            self.client.invoke(FunctionName=name, InvocationType="DryRun")
        except Exception as exc:  # expected: the invocation of an inactive function fails while it wakes up
            logger.debug("dry run of inactive function %s: %s", name, exc)
        return self._wait_active(name)

    def _wait_active(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.ACTIVE_TIMEOUT
        with aws_errors(f"Lambda GetFunctionConfiguration {name}", self.endpoint):
            while True:
                conf: dict[str, Any] = self.client.get_function_configuration(FunctionName=name)
                state, update = conf.get("State"), conf.get("LastUpdateStatus")
                if state == "Active" and update in (None, "Successful"):
                    return conf
                if state == "Failed" or update == "Failed":
                    raise BackendError(
                        f"Lambda function {name} failed to deploy: {conf.get('StateReason') or ''} "
                        f"{conf.get('LastUpdateStatusReason') or ''}. Check the runtime and the execution role."
                    )
                if time.monotonic() > deadline:
                    raise BackendError(f"Lambda function {name} was not Active after {self.ACTIVE_TIMEOUT:g} s.")
                time.sleep(0.5)

    def list(self) -> list[dict[str, Any]]:
        """Lithops' functions: ``[{'runtime_name', 'memory', 'version', 'function_name'}]``."""
        prefix = self.prefix
        result = []
        with aws_errors("Lambda ListFunctions", self.endpoint):
            for page in self.client.get_paginator("list_functions").paginate():
                for conf in page.get("Functions", []):
                    if not conf["FunctionName"].startswith(prefix):
                        continue
                    tags = self.client.list_tags(Resource=conf["FunctionArn"]).get("Tags", {})
                    version = conf.get("Description", "").rsplit("lithops-aws ", 1)[-1]
                    result.append({"runtime_name": tags.get(TAG_RUNTIME, "?"), "memory": conf.get("MemorySize"),
                                   "version": version, "function_name": conf["FunctionName"]})
        return result

    def delete(self, runtime: str | None, memory: int | None = None) -> builtins.list[str]:
        """Delete the functions of ``runtime`` (of one memory size, or all); return their names."""
        runtime = self.runtime_name(runtime)
        deleted = []
        for item in self.list():
            if item["runtime_name"] != runtime or (memory is not None and item["memory"] != memory):
                continue
            with aws_errors("Lambda DeleteFunction", self.endpoint):
                try:
                    self.client.delete_function(FunctionName=item["function_name"])
                except Exception as exc:
                    if error_code(exc) != "ResourceNotFoundException":
                        raise
            self.forget(runtime, item["memory"])
            deleted.append(item["function_name"])
        return deleted
