"""Registers the AWS backends with Lithops: specs and config schemas only, no boto3 import.

The keys follow Lithops' ``aws``, ``aws_s3``, ``aws_lambda``, ``aws_batch`` and ``aws_ec2`` sections. The
shared ``aws`` section (credentials, region) fills in the keys a backend's own section does not set. With no
keys anywhere, boto3's standard credential chain is used (environment, ``~/.aws``, profiles, instance roles).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from lithops.plugins import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, StorageBackendSpec, hookimpl
from lithops.standalone.config import STANDALONE_CONFIG, check_cidr

#: The Lithops plugin API this plugin is written for (lithops-core refuses plugins of an API it does not know).
LITHOPS_PLUGIN_API = "1"

_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))
_OPT_LIST = (list, type(None))

#: Keys of the shared ``aws`` section that every AWS backend accepts, in the ``aws`` section or its own.
CREDENTIAL_KEYS: dict[str, ConfigKey] = {
    "region": ConfigKey(type=_OPT_STR, default=None,
                        doc="AWS region, e.g. us-east-1 (default: boto3's, from AWS_REGION or ~/.aws/config)"),
    "access_key_id": ConfigKey(type=_OPT_STR, default=None, secret=True,
                               doc="access key id; leave unset to use boto3's credential chain"),
    "secret_access_key": ConfigKey(type=_OPT_STR, default=None, secret=True,
                                   doc="secret access key; leave unset to use boto3's credential chain"),
    "session_token": ConfigKey(type=_OPT_STR, default=None, secret=True,
                               doc="session token of temporary credentials"),
    "config_profile": ConfigKey(type=_OPT_STR, default=None,
                                doc="named profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE)"),
    "account_id": ConfigKey(type=_OPT_STR, default=None,
                            doc="AWS account id; asked from STS when needed and not set"),
    "user_id": ConfigKey(type=_OPT_STR, default=None,
                         doc="the caller's user id (STS UserId), part of the Lambda function names; asked from STS "
                             "when needed and not set"),
    "region_name": ConfigKey(type=_OPT_STR, default=None, doc="Lithops 3.x name of 'region' (used when it is unset)"),
}

#: Lithops 3.x key names this plugin reads under another name: ``{old: new}``.
ALIASES = {"region_name": "region", "container_vcpus": "runtime_cpu"}
#: Lithops 3.x keys that this plugin accepts and does not use, with what to do instead.
UNUSED_KEYS = {
    "remote_invoker": "lithops-aws always invokes from the client (with retries and backoff); remove the key",
    "runtime_include_function": "the function is always uploaded to storage with each job; remove the key",
}


def apply_aliases(section: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The section with Lithops 3.x key names moved to the names this plugin reads (a set new name wins), and a
    warning for each accepted key that has no effect here (never ignored silently).
    """
    result = dict(section)
    for old, new in ALIASES.items():
        if result.get(old) is not None:
            value = result.pop(old)
            if result.get(new) is None:
                result[new] = value
    for key, advice in UNUSED_KEYS.items():
        if result.get(key):
            warnings.warn(f"{name}.{key} has no effect with lithops-aws: {advice}.", UserWarning, stacklevel=3)
    env = result.get("env_vars")
    if isinstance(env, list):  # Lithops 3.x writes [{'name': ..., 'value': ...}]
        result["env_vars"] = {str(e["name"]): str(e["value"]) for e in env}
    return result


def _env_vars_problem(value: Any) -> str | None:
    if isinstance(value, dict):
        return None
    if all(isinstance(e, Mapping) and set(e) == {"name", "value"} for e in value):
        return None
    return (f"is {value!r}; it must be a mapping {{NAME: value}} or, as Lithops 3.x writes it, a list of "
            f"{{'name': NAME, 'value': value}}")


def _workers_problem(value: Any) -> str | None:
    if isinstance(value, str) and value != "AUTO":
        return f"is {value!r}; it must be a number of at least 1 or AUTO (one per vCPU of the worker)"
    return None

_ENDPOINT = ConfigKey(
    type=_OPT_STR, default=None,
    doc="endpoint URL of the service (S3-compatible stores, local emulators); boto3's AWS_ENDPOINT_URL_<SERVICE> "
        "environment variables also work",
)

S3_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "storage_bucket": ConfigKey(type=_OPT_STR, default=None,
                                doc="bucket for Lithops' temporary objects (default: lithops-<account>-<region>)"),
    "endpoint": _ENDPOINT,
    "sts_endpoint": ConfigKey(type=_OPT_STR, default=None, doc="endpoint URL of STS (emulators)"),
    "max_pool_connections": ConfigKey(type=int, default=64, minimum=1, doc="HTTP connections kept open to S3"),
    "addressing_style": ConfigKey(
        type=_OPT_STR, default=None, choices=(None, "auto", "path", "virtual"),
        doc="S3 addressing style; 'path' by default when an endpoint is set (MinIO, Ceph), else 'auto'",
    ),
    "connect_timeout": ConfigKey(type=(int, float), default=10, minimum=0.1, doc="seconds to open a connection"),
    "read_timeout": ConfigKey(type=(int, float), default=60, minimum=0.1, doc="seconds to wait for a response"),
    "max_attempts": ConfigKey(type=int, default=5, minimum=1, doc="attempts of each request (boto3 standard retries)"),
    "multipart_threshold": ConfigKey(type=int, default=64 * 1024 * 1024, minimum=5 * 1024 * 1024,
                                     doc="bytes from which uploads are multipart (streamed in parts)"),
    "multipart_chunksize": ConfigKey(type=int, default=16 * 1024 * 1024, minimum=5 * 1024 * 1024,
                                     doc="part size of multipart uploads, in bytes"),
}

LAMBDA_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "endpoint": _ENDPOINT,
    "execution_role": ConfigKey(
        type=_OPT_STR, default=None,
        doc="ARN of the IAM role the functions run as; when unset Lithops creates or reuses 'lithops-lambda-role'",
    ),
    "iam_endpoint": ConfigKey(type=_OPT_STR, default=None, doc="endpoint URL of IAM (emulators)"),
    "ecr_endpoint": ConfigKey(type=_OPT_STR, default=None, doc="endpoint URL of ECR (emulators)"),
    "sts_endpoint": ConfigKey(type=_OPT_STR, default=None, doc="endpoint URL of STS (emulators)"),
    "runtime": ConfigKey(
        type=_OPT_STR, default=None,
        doc="runtime name: a layer runtime built with the runtime builder, or a container image (name:tag or an "
            "ECR URI); default: the built-in zip runtime for the client's Python version",
    ),
    "runtime_memory": ConfigKey(type=int, default=256, minimum=128, doc="MiB of memory per function (128-10240)"),
    "runtime_timeout": ConfigKey(type=int, default=180, minimum=1, doc="function timeout in seconds (max 900)"),
    "ephemeral_storage": ConfigKey(type=int, default=512, minimum=512, doc="MiB of /tmp per function (512-10240)"),
    "architecture": ConfigKey(type=str, default="x86_64", choices=("x86_64", "arm64"), doc="function architecture"),
    "max_workers": ConfigKey(type=int, default=1000, minimum=1, doc="calls that may run at once"),
    "worker_processes": ConfigKey(type=(int, str), default=1, minimum=1, check=_workers_problem,
                                  doc="calls one invocation runs at once (threads); AUTO: one per vCPU of the "
                                      "memory size"),
    "invoke_pool_threads": ConfigKey(type=int, default=64, minimum=1, doc="client threads that invoke in parallel"),
    "invoke_max_retries": ConfigKey(type=int, default=10, minimum=0,
                                    doc="retries of one throttled (429) or failed invocation, with backoff and jitter"),
    "env_vars": ConfigKey(type=(dict, list), default={}, check=_env_vars_problem,
                          doc="environment variables of the functions ({NAME: value}, or Lithops 3.x's list of "
                              "{'name', 'value'})"),
    "vpc": ConfigKey(type=dict, default={}, doc="{'subnets': [...], 'security_groups': [...]} to run in a VPC"),
    "efs": ConfigKey(type=list, default=[], doc="[{'access_point': ARN, 'mount_path': '/mnt/...'}] EFS mounts"),
    "user_tags": ConfigKey(type=dict, default={}, doc="tags added to the functions Lithops creates"),
    "namespace": ConfigKey(type=_OPT_STR, default=None,
                           doc="prefix of the function names, to keep several deployments apart in one account"),
    "remote_invoker": ConfigKey(type=(bool, type(None)), default=None,
                                doc="Lithops 3.x key; has no effect (a warning says so)"),
    "runtime_include_function": ConfigKey(type=(bool, type(None)), default=None,
                                          doc="Lithops 3.x key; has no effect (a warning says so)"),
}

#: Allocation strategies of EC2 and SPOT compute environments (the first is Lithops' default).
EC2_STRATEGIES = ("BEST_FIT_PROGRESSIVE", "BEST_FIT")
SPOT_STRATEGIES = ("SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED", "BEST_FIT")

BATCH_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "endpoint": _ENDPOINT,
    "iam_endpoint": LAMBDA_CONFIG["iam_endpoint"],
    "ecr_endpoint": LAMBDA_CONFIG["ecr_endpoint"],
    "sts_endpoint": LAMBDA_CONFIG["sts_endpoint"],
    "execution_role": ConfigKey(type=_OPT_STR, default=None,
                                doc="ARN of the ECS task execution role (pulls the image, writes logs)"),
    "job_role": ConfigKey(type=_OPT_STR, default=None, doc="ARN of the role the job's code runs as (S3 access)"),
    "service_role": ConfigKey(type=_OPT_STR, default=None,
                              doc="ARN of the Batch service role (default: the service-linked role)"),
    "instance_role": ConfigKey(type=_OPT_STR, default=None, doc="instance profile ARN for EC2/SPOT environments"),
    "subnets": ConfigKey(type=list, default=[], doc="subnet ids of the compute environment"),
    "security_groups": ConfigKey(type=list, default=[], doc="security group ids of the compute environment"),
    "env_type": ConfigKey(type=str, default="FARGATE", choices=("FARGATE", "FARGATE_SPOT", "EC2", "SPOT"),
                          doc="compute environment type"),
    "env_max_cpus": ConfigKey(type=int, default=10, minimum=1, doc="max vCPUs of the compute environment"),
    "assign_public_ip": ConfigKey(type=bool, default=True, doc="give Fargate tasks a public IP (to reach ECR/S3)"),
    "instance_types": ConfigKey(type=list, default=["optimal"], doc="EC2/SPOT instance types of the environment"),
    "allocation_strategy": ConfigKey(
        type=_OPT_STR, default=None, choices=(None, *dict.fromkeys(EC2_STRATEGIES + SPOT_STRATEGIES)),
        doc="EC2/SPOT allocation strategy (default: BEST_FIT_PROGRESSIVE on EC2, SPOT_CAPACITY_OPTIMIZED on SPOT)",
    ),
    "spot_fleet_role": ConfigKey(type=_OPT_STR, default=None,
                                 doc="ARN of the Spot Fleet role; needed by SPOT with allocation_strategy BEST_FIT"),
    "namespace": ConfigKey(type=_OPT_STR, default=None,
                           doc="part of the names of the environment, queue and job definitions, to keep several "
                               "deployments apart in one account"),
    "runtime": ConfigKey(type=_OPT_STR, default=None, doc="container image (name:tag or an ECR URI)"),
    "runtime_memory": ConfigKey(type=int, default=1024, minimum=512, doc="MiB of memory per job"),
    "runtime_cpu": ConfigKey(type=(int, float, type(None)), default=None, minimum=0.25,
                             doc="vCPUs per job (default: 0.5 on Fargate, 1 on EC2/SPOT)"),
    "container_vcpus": ConfigKey(type=(int, float, type(None)), default=None, minimum=0.25,
                                 doc="Lithops 3.x name of runtime_cpu"),
    "runtime_timeout": ConfigKey(type=int, default=180, minimum=60, doc="job timeout in seconds"),
    "worker_processes": ConfigKey(type=(int, str), default=1, minimum=1, check=_workers_problem,
                                  doc="calls one job runs at once (threads); AUTO: one per vCPU of the job"),
    "max_workers": ConfigKey(type=_OPT_INT, default=None, minimum=1,
                             doc="array children of one job at most (default: env_max_cpus / runtime_cpu)"),
    "env_vars": LAMBDA_CONFIG["env_vars"],
}

#: vCPUs of a Fargate task and the memory sizes (MiB) each allows.
FARGATE_CPU_MEMORY: dict[float, tuple[int, ...]] = {
    0.25: (512, 1024, 2048),
    0.5: tuple(range(1024, 4097, 1024)),
    1: tuple(range(2048, 8193, 1024)),
    2: tuple(range(4096, 16385, 1024)),
    4: tuple(range(8192, 30721, 1024)),
    8: tuple(range(16384, 61441, 4096)),
    16: tuple(range(32768, 122881, 8192)),
}


def batch_cpu(section: Mapping[str, Any]) -> float:
    """The vCPUs of one Batch job: ``runtime_cpu`` (or ``container_vcpus``), else 0.5 on Fargate and 1 on EC2/SPOT."""
    cpu = section.get("runtime_cpu") or section.get("container_vcpus")
    if cpu:
        return float(cpu)
    return 0.5 if str(section.get("env_type") or "FARGATE").startswith("FARGATE") else 1.0


def batch_problems(section: Mapping[str, Any]) -> list[str]:
    """What AWS Batch would refuse in an ``aws_batch`` section, with the allowed values (no AWS call)."""
    problems = []
    env_type = str(section.get("env_type") or "FARGATE")
    cpu, memory = batch_cpu(section), int(section.get("runtime_memory") or 1024)
    strategy = section.get("allocation_strategy")
    if cpu > int(section.get("env_max_cpus") or 10):
        problems.append(f"runtime_cpu is {cpu:g}, more than env_max_cpus ({section.get('env_max_cpus')}): no job "
                        f"could ever start. Lower runtime_cpu or raise env_max_cpus")
    if env_type.startswith("FARGATE"):
        if cpu not in FARGATE_CPU_MEMORY:
            problems.append(f"runtime_cpu is {cpu:g}, which {env_type} does not offer: choose one of "
                            f"{', '.join(f'{c:g}' for c in FARGATE_CPU_MEMORY)}")
        elif memory not in FARGATE_CPU_MEMORY[cpu]:
            allowed = FARGATE_CPU_MEMORY[cpu]
            problems.append(f"runtime_memory is {memory} MiB, which {env_type} does not offer with {cpu:g} vCPU: "
                            f"choose one of {', '.join(map(str, allowed))} MiB (or change runtime_cpu)")
        if strategy:
            problems.append(f"allocation_strategy applies to EC2 and SPOT environments, not {env_type}: remove it")
        return problems
    if cpu < 1 or cpu != int(cpu):
        problems.append(f"runtime_cpu is {cpu:g}; {env_type} jobs take a whole number of vCPUs, at least 1")
    if not section.get("instance_role"):
        problems.append(f"instance_role is required with env_type {env_type}: set it to the ARN of an instance "
                        f"profile whose role has the AmazonEC2ContainerServiceforEC2Role policy")
    strategies = EC2_STRATEGIES if env_type == "EC2" else SPOT_STRATEGIES
    if strategy and strategy not in strategies:
        problems.append(f"allocation_strategy is {strategy}, which {env_type} does not take: choose one of "
                        f"{', '.join(strategies)}")
    if env_type == "SPOT" and strategy == "BEST_FIT" and not section.get("spot_fleet_role"):
        problems.append("SPOT with allocation_strategy BEST_FIT needs spot_fleet_role (the ARN of a role with "
                        "AmazonEC2SpotFleetTaggingRole); or use SPOT_CAPACITY_OPTIMIZED, which needs none")
    return problems


EC2_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    **STANDALONE_CONFIG,
    "endpoint": _ENDPOINT,
    "iam_endpoint": ConfigKey(type=_OPT_STR, default=None, doc="endpoint URL of IAM (emulators)"),
    "instance_id": ConfigKey(type=_OPT_STR, default=None,
                             doc="the VM to use in consume mode (the agent is installed on it over SSH)"),
    "vpc_id": ConfigKey(type=_OPT_STR, default=None, doc="VPC of the VMs (default: the default VPC)"),
    "public_subnet_id": ConfigKey(type=_OPT_STR, default=None,
                                  doc="subnet of the VMs, which get a public IP address (default: the VPC's default)"),
    "security_group_id": ConfigKey(type=_OPT_STR, default=None,
                                   doc="security group of the VMs (default: lithops-sg, which Lithops creates)"),
    "ssh_allowed_cidr": ConfigKey(type=_OPT_STR, default=None, check=check_cidr,
                                  doc="addresses allowed to reach the VMs' port 22 (lithops attach), e.g. "
                                      "203.0.113.7/32; unset: lithops-sg opens no port"),
    "instance_role": ConfigKey(type=_OPT_STR, default=None,
                               doc="instance profile (name or ARN) of the VMs; it needs read/write access to the "
                                   "storage bucket (default: lithops-ec2-role, created)"),
    "ssh_key_name": ConfigKey(type=_OPT_STR, default=None, doc="EC2 key pair of the VMs, for lithops attach"),
    "target_ami": ConfigKey(type=_OPT_STR, default=None,
                            doc="image of the VMs (default: the latest official Ubuntu or Debian image whose "
                                "python3 is the client's version)"),
    "install_dir": ConfigKey(type=str, default="/opt/lithops", doc="folder on the VMs for Lithops's code and agent"),
    "master_instance_type": ConfigKey(type=str, default="t2.micro", doc="accepted for compatibility; not used"),
    "worker_instance_type": ConfigKey(type=str, default="t2.medium", doc="instance type of the worker VMs"),
    "request_spot_instances": ConfigKey(type=bool, default=False, doc="ask for spot instances"),
    "max_workers": ConfigKey(type=int, default=1, minimum=1, doc="worker VMs to start"),
    "delete_on_dismantle": ConfigKey(type=bool, default=True,
                                     doc="create mode: an idle VM's power-off terminates it (false: stops it)"),
    "user_tags": ConfigKey(type=dict, default={}, doc="tags added to the VMs Lithops creates"),
    "runtime_memory": ConfigKey(type=_OPT_INT, default=None, doc="accepted for compatibility; not enforced"),
}

_SHARED = ("aws",)


@hookimpl
def lithops_storage_backends() -> list[StorageBackendSpec]:
    """The ``aws_s3`` storage backend (Amazon S3 and S3-compatible stores)."""
    return [
        StorageBackendSpec(
            name="aws_s3",
            backend="lithops_aws.s3.storage:S3Storage",
            config=S3_CONFIG,
            shared_sections=_SHARED,
            url_schemes=("s3",),
            description="Amazon S3 or any S3-compatible store (MinIO, Ceph) through its endpoint",
        )
    ]


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``aws_lambda`` and ``aws_batch`` serverless backends and the ``aws_ec2`` standalone backend."""
    return [
        ComputeBackendSpec(
            name="aws_lambda",
            mode="serverless",
            backend="lithops_aws.aws_lambda.backend:LambdaBackend",
            config=LAMBDA_CONFIG,
            default_storage="aws_s3",
            shared_sections=_SHARED,
            description="AWS Lambda functions (zip with a dependency layer, or a container image)",
        ),
        ComputeBackendSpec(
            name="aws_batch",
            mode="serverless",
            backend="lithops_aws.aws_batch.backend:BatchBackend",
            config=BATCH_CONFIG,
            validate=batch_problems,
            default_storage="aws_s3",
            shared_sections=_SHARED,
            description="AWS Batch array jobs on Fargate or EC2",
        ),
        ComputeBackendSpec(
            name="aws_ec2",
            mode="standalone",
            backend="lithops_aws.aws_ec2.backend:EC2Backend",
            config=EC2_CONFIG,
            default_storage="aws_s3",
            shared_sections=(*_SHARED, "standalone"),
            description="EC2 virtual machines that run calls as they arrive",
        ),
    ]


@hookimpl
def lithops_runtime_builders() -> list[RuntimeBuilderSpec]:
    """Runtime builders of ``aws_lambda`` (zip layers and container images) and ``aws_batch`` (images)."""
    return [
        RuntimeBuilderSpec(name="aws_lambda", backend="lithops_aws.aws_lambda.runtime:LambdaRuntimeBuilder",
                           config=LAMBDA_CONFIG, shared_sections=_SHARED,
                           description="Lambda runtimes: dependency layers (no container tool) or images"),
        RuntimeBuilderSpec(name="aws_batch", backend="lithops_aws.aws_batch.runtime:BatchRuntimeBuilder",
                           config=BATCH_CONFIG, shared_sections=_SHARED, validate=batch_problems,
                           description="Batch runtimes: container images pushed to ECR"),
    ]
