"""Registers the AWS backends with Lithops: specs and config schemas only, no boto3 import.

The keys follow Lithops' ``aws``, ``aws_s3``, ``aws_lambda``, ``aws_batch`` and ``aws_ec2`` sections. The
shared ``aws`` section (credentials, region) fills in the keys a backend's own section does not set. With no
keys anywhere, boto3's standard credential chain is used (environment, ``~/.aws``, profiles, instance roles).
"""

from __future__ import annotations

from lithops.plugins import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, StorageBackendSpec, hookimpl

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
}

_ENDPOINT = ConfigKey(
    type=_OPT_STR, default=None,
    doc="endpoint URL of the service (S3-compatible stores, local emulators); boto3's AWS_ENDPOINT_URL_<SERVICE> "
        "environment variables also work",
)

S3_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "storage_bucket": ConfigKey(type=_OPT_STR, default=None, doc="bucket for Lithops' temporary objects"),
    "endpoint": _ENDPOINT,
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
    "worker_processes": ConfigKey(type=int, default=1, minimum=1, doc="calls one invocation runs at once (threads)"),
    "invoke_pool_threads": ConfigKey(type=int, default=64, minimum=1, doc="client threads that invoke in parallel"),
    "invoke_max_retries": ConfigKey(type=int, default=10, minimum=0,
                                    doc="retries of one throttled (429) or failed invocation, with backoff and jitter"),
    "env_vars": ConfigKey(type=dict, default={}, doc="environment variables of the functions"),
    "vpc": ConfigKey(type=dict, default={}, doc="{'subnets': [...], 'security_groups': [...]} to run in a VPC"),
    "efs": ConfigKey(type=list, default=[], doc="[{'access_point': ARN, 'mount_path': '/mnt/...'}] EFS mounts"),
    "user_tags": ConfigKey(type=dict, default={}, doc="tags added to the functions Lithops creates"),
    "remote_invoker": ConfigKey(type=(bool, type(None)), default=None, doc="accepted for compatibility; unused"),
}

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
    "runtime": ConfigKey(type=_OPT_STR, default=None, doc="container image (name:tag or an ECR URI)"),
    "runtime_memory": ConfigKey(type=int, default=1024, minimum=512, doc="MiB of memory per job"),
    "runtime_cpu": ConfigKey(type=(int, float), default=0.5, minimum=0.25, doc="vCPUs per job"),
    "runtime_timeout": ConfigKey(type=int, default=180, minimum=60, doc="job timeout in seconds"),
    "worker_processes": ConfigKey(type=int, default=1, minimum=1, doc="calls one job runs at once (threads)"),
    "max_workers": ConfigKey(type=int, default=100, minimum=1, doc="array size limit per job submission"),
    "env_vars": ConfigKey(type=dict, default={}, doc="environment variables of the jobs"),
}

EC2_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "endpoint": _ENDPOINT,
    "exec_mode": ConfigKey(type=str, default="reuse", choices=("consume", "create", "reuse"),
                           doc="consume: use instance_id as is; create: new VMs per executor; reuse: keep VMs"),
    "instance_id": ConfigKey(type=_OPT_STR, default=None, doc="the VM to use in consume mode"),
    "vpc_id": ConfigKey(type=_OPT_STR, default=None, doc="VPC of the VMs (default: the default VPC)"),
    "subnet_id": ConfigKey(type=_OPT_STR, default=None, doc="subnet of the VMs"),
    "security_group_id": ConfigKey(type=_OPT_STR, default=None,
                                   doc="security group of the VMs (default: one Lithops creates)"),
    "iam_role": ConfigKey(type=_OPT_STR, default=None,
                          doc="instance profile name of the VMs; it needs read/write access to the storage bucket"),
    "key_name": ConfigKey(type=_OPT_STR, default=None, doc="EC2 key pair name, for SSH access to the VMs"),
    "ssh_username": ConfigKey(type=str, default="ubuntu", doc="user name of the VMs' image"),
    "ssh_key_filename": ConfigKey(type=_OPT_STR, default=None, doc="private key file of key_name"),
    "target_ami": ConfigKey(type=_OPT_STR, default=None, doc="AMI of the VMs (default: latest Ubuntu 22.04)"),
    "master_instance_type": ConfigKey(type=str, default="t2.micro", doc="accepted for compatibility"),
    "worker_instance_type": ConfigKey(type=str, default="t2.medium", doc="instance type of the worker VMs"),
    "request_spot_instances": ConfigKey(type=bool, default=False, doc="ask for spot instances"),
    "max_workers": ConfigKey(type=int, default=1, minimum=1, doc="worker VMs to start"),
    "worker_processes": ConfigKey(type=_OPT_INT, default=None, minimum=1,
                                  doc="calls one VM runs at once (default: its vCPUs)"),
    "runtime": ConfigKey(type=_OPT_STR, default=None,
                         doc="pip requirements installed on the VMs besides Lithops (space separated)"),
    "auto_dismantle": ConfigKey(type=bool, default=True, doc="stop idle VMs"),
    "soft_dismantle_timeout": ConfigKey(type=int, default=300, minimum=10, doc="idle seconds before a VM stops"),
    "hard_dismantle_timeout": ConfigKey(type=int, default=3600, minimum=60, doc="seconds after which a VM stops"),
    "delete_on_dismantle": ConfigKey(type=bool, default=True,
                                     doc="terminate (not only stop) VMs of create mode when dismantled"),
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
            shared_sections=_SHARED,
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
                           config=BATCH_CONFIG, shared_sections=_SHARED,
                           description="Batch runtimes: container images pushed to ECR"),
    ]
