"""Registers the IBM Cloud backends with Lithops: specs and config schemas only, no SDK import.

The keys follow Lithops' ``ibm``, ``ibm_cos``, ``code_engine`` and ``ibm_vpc`` sections. The shared ``ibm`` section
(IAM API key, region, resource group, IAM endpoint) fills in the keys a backend's own section does not set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lithops.plugins import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, StorageBackendSpec, hookimpl
from lithops.standalone.config import STANDALONE_CONFIG

#: The Lithops plugin API this plugin is written for (lithops-core refuses plugins of an API it does not know).
LITHOPS_PLUGIN_API = "1"

_OPT_STR = (str, type(None))

#: IAM's public token service; ``ibm.iam_endpoint`` replaces it (private endpoints, local stand-ins).
DEFAULT_IAM_ENDPOINT = "https://iam.cloud.ibm.com"

#: Keys of the shared ``ibm`` section, accepted there or in each backend's own section.
IBM_KEYS: dict[str, ConfigKey] = {
    "iam_api_key": ConfigKey(type=_OPT_STR, default=None, secret=True,
                             doc="IBM Cloud IAM API key, exchanged for bearer tokens (refreshed before they expire)"),
    "region": ConfigKey(type=_OPT_STR, default=None, doc="IBM Cloud region, e.g. us-south, eu-de"),
    "resource_group_id": ConfigKey(type=_OPT_STR, default=None,
                                   doc="resource group of the resources Lithops creates (default: the account's "
                                       "default group)"),
    "iam_endpoint": ConfigKey(type=_OPT_STR, default=None,
                              doc=f"URL of the IAM token service (default {DEFAULT_IAM_ENDPOINT}; "
                                  f"https://private.iam.cloud.ibm.com from private networks)"),
}

COS_CONFIG: dict[str, ConfigKey] = {
    **IBM_KEYS,
    "endpoint": ConfigKey(type=_OPT_STR, default=None,
                          doc="COS endpoint URL (default: https://s3.<region>.cloud-object-storage.appdomain.cloud)"),
    "private_endpoint": ConfigKey(type=_OPT_STR, default=None,
                                  doc="COS endpoint the workers use (default with region and no endpoint: "
                                      "https://s3.private.<region>.cloud-object-storage.appdomain.cloud)"),
    "api_key": ConfigKey(type=_OPT_STR, default=None, secret=True,
                         doc="IAM API key of COS (default: ibm.iam_api_key)"),
    "access_key_id": ConfigKey(type=_OPT_STR, default=None, secret=True,
                               doc="HMAC access key id (service credential with HMAC)"),
    "secret_access_key": ConfigKey(type=_OPT_STR, default=None, secret=True, doc="HMAC secret access key"),
    "instance_identity": ConfigKey(type=bool, default=False,
                                   doc="on an IBM VPC virtual server: take IAM tokens of the server's trusted profile "
                                       "from the VPC metadata service instead of keys (ibm_vpc sets it on the VMs it "
                                       "creates)"),
    "storage_bucket": ConfigKey(type=_OPT_STR, default=None,
                                doc="bucket for Lithops' temporary objects (default with HMAC keys: "
                                    "lithops-<region>-<hash of the access key id>, created on first use)"),
    "max_pool_connections": ConfigKey(type=int, default=64, minimum=1, doc="HTTP connections kept open to COS"),
    "connect_timeout": ConfigKey(type=(int, float), default=10, minimum=0.1, doc="seconds to open a connection"),
    "read_timeout": ConfigKey(type=(int, float), default=60, minimum=0.1, doc="seconds to wait for a response"),
    "max_attempts": ConfigKey(type=int, default=5, minimum=1, doc="attempts of each request"),
    "multipart_threshold": ConfigKey(type=int, default=64 * 1024 * 1024, minimum=5 * 1024 * 1024,
                                     doc="bytes from which uploads are multipart (streamed in parts)"),
    "multipart_chunksize": ConfigKey(type=int, default=16 * 1024 * 1024, minimum=5 * 1024 * 1024,
                                     doc="part size of multipart uploads, in bytes"),
}


def cos_problems(section: Mapping[str, Any]) -> list[str]:
    """What keeps an ``ibm_cos`` section from reaching COS: missing credentials, or no endpoint and no region."""
    problems = []
    hmac = [k for k in ("access_key_id", "secret_access_key") if section.get(k)]
    if len(hmac) == 1:
        missing = ({"access_key_id", "secret_access_key"} - set(hmac)).pop()
        problems.append(f"{hmac[0]} is set but {missing} is not: HMAC credentials need both")
    if not hmac and not (section.get("api_key") or section.get("iam_api_key") or section.get("instance_identity")):
        problems.append("has no credentials: set access_key_id and secret_access_key (HMAC keys of a COS service "
                        "credential), or api_key (or iam_api_key in the ibm section)")
    if not section.get("endpoint") and not section.get("region"):
        problems.append("needs region (e.g. us-south; or ibm.region) or endpoint")
    if not section.get("storage_bucket") and len(hmac) != 2 and not problems:
        problems.append("needs storage_bucket when it has no HMAC keys: Lithops creates the default bucket only "
                        "with HMAC keys (COS needs the service instance to create a bucket with an IAM token). "
                        "Create a bucket and set storage_bucket")
    return problems


#: Regions where Code Engine runs.
CE_REGIONS = ("au-syd", "br-sao", "ca-tor", "eu-de", "eu-es", "eu-gb", "jp-osa", "jp-tok", "us-east", "us-south")

#: vCPUs of a Code Engine job instance and the memory sizes (MiB) Code Engine allows with each.
CE_CPU_MEMORY: dict[float, tuple[int, ...]] = {
    0.125: (256, 512, 1024),
    0.25: (512, 1024, 2048),
    0.5: (1024, 2048, 4096),
    1: (2048, 4096, 8192),
    2: (4096, 8192, 16384),
    4: (8192, 16384, 32768),
    6: (12288, 24576, 49152),
    8: (16384, 32768),
    12: (24576, 49152),
}
#: Longest run of a Code Engine job instance in task mode, in seconds.
CE_MAX_EXECUTION_TIME = 86400
#: Most array indices of one job run.
CE_MAX_ARRAY_SIZE = 1000


def _workers_problem(value: Any) -> str | None:
    if isinstance(value, str) and value != "AUTO":
        return f"is {value!r}; it must be a number of at least 1 or AUTO (one per vCPU of the job instance)"
    return None


def _env_vars_problem(value: Any) -> str | None:
    if isinstance(value, dict) or all(isinstance(e, Mapping) and set(e) == {"name", "value"} for e in value):
        return None
    return (f"is {value!r}; it must be a mapping {{NAME: value}} or, as Lithops 3.x writes it, a list of "
            f"{{'name': NAME, 'value': value}}")


CE_CONFIG: dict[str, ConfigKey] = {
    **IBM_KEYS,
    "endpoint": ConfigKey(type=_OPT_STR, default=None,
                          doc="Code Engine API URL (default: https://api.<region>.codeengine.cloud.ibm.com/v2)"),
    "project_name": ConfigKey(type=str, default="lithops",
                              doc="Code Engine project the jobs run in; created in the region when missing"),
    "runtime": ConfigKey(type=_OPT_STR, default=None,
                         doc="container image of the jobs (default: <docker_server>/<docker_user>/"
                             "lithops-ce-default-v<python>:<lithops-ibm version>, built by 'lithops runtime build')"),
    "runtime_cpu": ConfigKey(type=(int, float), default=0.125, minimum=0.125,
                             doc="vCPUs of each job instance; with runtime_memory one of Code Engine's pairs"),
    "runtime_memory": ConfigKey(type=int, default=256, minimum=256,
                                doc="MiB of memory of each job instance (256 = 0.25G, 1024 = 1G, ...)"),
    "runtime_timeout": ConfigKey(type=int, default=600, minimum=1,
                                 doc=f"seconds a job instance may run (max {CE_MAX_EXECUTION_TIME})"),
    "max_workers": ConfigKey(type=int, default=1000, minimum=1,
                             doc=f"array indices of one job run at most (max {CE_MAX_ARRAY_SIZE})"),
    "worker_processes": ConfigKey(type=(int, str), default=1, minimum=1, check=_workers_problem,
                                  doc="calls one job instance runs at once; AUTO: one per vCPU"),
    "connection_retries": ConfigKey(type=int, default=5, minimum=0,
                                    doc="retries of a Code Engine API request that failed with 429 or 5xx"),
    "docker_server": ConfigKey(type=str, default="docker.io", doc="container registry of the runtime images"),
    "docker_user": ConfigKey(type=_OPT_STR, default=None, doc="registry user (namespace of the default image)"),
    "docker_password": ConfigKey(type=_OPT_STR, default=None, secret=True,
                                 doc="registry password or API key; Code Engine pulls with it too (a registry "
                                     "secret 'lithops-registry' is made in the project)"),
    "env_vars": ConfigKey(type=(dict, list), default={}, check=_env_vars_problem,
                          doc="environment variables of the job instances ({NAME: value}, or Lithops 3.x's list "
                              "of {'name', 'value'})"),
}


def memory_limit(memory: int) -> str:
    """Code Engine's spelling of a memory size in MiB: 256 -> '0.25G', 4096 -> '4G'."""
    return f"{memory / 1024:g}G"


def ce_problems(section: Mapping[str, Any]) -> list[str]:
    """What Code Engine would refuse in a ``code_engine`` section, with the allowed values (no API call)."""
    problems = []
    cpu, memory = float(section["runtime_cpu"]), int(section["runtime_memory"])
    if cpu not in CE_CPU_MEMORY:
        problems.append(f"runtime_cpu is {cpu:g}, which Code Engine does not offer: choose one of "
                        f"{', '.join(f'{c:g}' for c in CE_CPU_MEMORY)}")
    elif memory not in CE_CPU_MEMORY[cpu]:
        allowed = ", ".join(f"{m} ({memory_limit(m)})" for m in CE_CPU_MEMORY[cpu])
        problems.append(f"runtime_memory is {memory} MiB, which Code Engine does not offer with {cpu:g} vCPU: "
                        f"choose one of {allowed} MiB, or change runtime_cpu")
    if int(section["runtime_timeout"]) > CE_MAX_EXECUTION_TIME:
        problems.append(f"runtime_timeout is {section['runtime_timeout']}; Code Engine stops job instances after "
                        f"{CE_MAX_EXECUTION_TIME} s at most: lower it")
    if int(section["max_workers"]) > CE_MAX_ARRAY_SIZE:
        problems.append(f"max_workers is {section['max_workers']}; a Code Engine job run has at most "
                        f"{CE_MAX_ARRAY_SIZE} array indices: lower it")
    if not section.get("iam_api_key"):
        problems.append("needs iam_api_key (in the ibm section or this one): Code Engine takes IAM tokens only")
    region = section.get("region")
    if not section.get("endpoint"):
        if not region:
            problems.append("needs region (e.g. us-south; or ibm.region) or endpoint")
        elif region not in CE_REGIONS:
            problems.append(f"region is {region!r}, where Code Engine does not run: choose one of "
                            f"{', '.join(CE_REGIONS)}")
    if not section.get("runtime") and not section.get("docker_user"):
        problems.append("needs runtime (an image Code Engine can pull) or docker_user (the registry namespace of "
                        "the default image, which 'lithops runtime build -b code_engine' builds)")
    return problems


#: The instance profile of the worker VMs when none is set (2 vCPUs, 4 GB).
VPC_DEFAULT_PROFILE = "cx2-2x4"


#: The ``ibm_vpc`` section: the ``ibm`` keys, the ``standalone`` ones and Lithops 3.x's ``ibm_vpc`` keys.
VPC_CONFIG: dict[str, ConfigKey] = {
    **IBM_KEYS,
    **STANDALONE_CONFIG,
    "ssh_username": ConfigKey(type=str, default="root", doc="login on the VMs (consume mode, lithops attach)"),
    "endpoint": ConfigKey(type=_OPT_STR, default=None,
                          doc="VPC API URL (default: https://<region>.iaas.cloud.ibm.com/v1)"),
    "zone": ConfigKey(type=_OPT_STR, default=None,
                      doc="zone of the VMs (default: the subnet's zone, else <region>-1)"),
    "vpc_id": ConfigKey(type=_OPT_STR, default=None, doc="VPC of the VMs (default: found or created by name)"),
    "vpc_name": ConfigKey(type=str, default="lithops-vpc",
                          doc="name of the VPC found or created when vpc_id is not set"),
    "subnet_id": ConfigKey(type=_OPT_STR, default=None,
                           doc="subnet of the VMs (default: a subnet of the VPC in the zone, created if none)"),
    "security_group_id": ConfigKey(type=_OPT_STR, default=None,
                                   doc="security group of the VMs (default: lithops-sg in the VPC, created: all "
                                       "traffic out, SSH in)"),
    "gateway_id": ConfigKey(type=_OPT_STR, default=None,
                            doc="public gateway attached to the subnet when it has none, for the VMs' way out "
                                "(default: the VPC's gateway in the zone, created if none)"),
    "floating_ip": ConfigKey(type=_OPT_STR, default=None,
                             doc="consume mode: the public address of instance_id (default: its floating IP, "
                                 "made for it when it has none)"),
    "instance_id": ConfigKey(type=_OPT_STR, default=None,
                             doc="the VM to use in consume mode (the agent is installed on it over SSH)"),
    "image_id": ConfigKey(type=_OPT_STR, default=None,
                          doc="image of the VMs (default: the latest IBM Ubuntu or Debian image whose python3 is "
                              "the client's version)"),
    "worker_profile_name": ConfigKey(type=str, default=VPC_DEFAULT_PROFILE, doc="instance profile of the VMs"),
    "master_profile_name": ConfigKey(type=_OPT_STR, default=None, doc="accepted for compatibility; not used"),
    "ssh_key_id": ConfigKey(type=_OPT_STR, default=None, doc="id of a VPC SSH key put on the VMs Lithops creates"),
    "trusted_profile_id": ConfigKey(type=_OPT_STR, default=None,
                                    doc="IAM trusted profile of the VMs Lithops creates, with the Writer role on "
                                        "the COS bucket: their agent reaches COS with its tokens, no keys"),
    "install_dir": ConfigKey(type=str, default="/opt/lithops", doc="folder on the VMs for Lithops's code and "
                                                                   "agent"),
    "max_workers": ConfigKey(type=int, default=1, minimum=1, doc="worker VMs to start"),
    "request_spot_instances": ConfigKey(type=bool, default=False, doc="accepted for compatibility; VPC virtual "
                                                                      "servers are on-demand"),
}


def vpc_problems(section: Mapping[str, Any]) -> list[str]:
    """What keeps an ``ibm_vpc`` section from reaching the VPC API (no API call)."""
    problems = []
    if not section.get("iam_api_key"):
        problems.append("needs iam_api_key (in the ibm section or this one): the VPC API takes IAM tokens only")
    if not section.get("endpoint") and not section.get("region"):
        problems.append("needs region (e.g. us-south; or ibm.region) or endpoint")
    if section.get("exec_mode") == "consume" and not section.get("instance_id"):
        problems.append("exec_mode is consume but instance_id is not set: give the id of the VM to run on, or use "
                        "exec_mode create or reuse")
    return problems


_SHARED = ("ibm",)


@hookimpl
def lithops_storage_backends() -> list[StorageBackendSpec]:
    """The ``ibm_cos`` storage backend."""
    return [
        StorageBackendSpec(
            name="ibm_cos",
            backend="lithops_ibm.cos.storage:COSStorage",
            config=COS_CONFIG,
            shared_sections=_SHARED,
            validate=cos_problems,
            url_schemes=("cos",),
            description="IBM Cloud Object Storage (S3-compatible endpoint; HMAC keys or an IAM API key)",
        )
    ]


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``code_engine`` serverless backend and the ``ibm_vpc`` standalone backend."""
    return [
        ComputeBackendSpec(
            name="code_engine",
            mode="serverless",
            backend="lithops_ibm.code_engine.backend:CodeEngineBackend",
            config=CE_CONFIG,
            validate=ce_problems,
            default_storage="ibm_cos",
            shared_sections=_SHARED,
            description="IBM Cloud Code Engine array job runs",
        ),
        ComputeBackendSpec(
            name="ibm_vpc",
            mode="standalone",
            backend="lithops_ibm.ibm_vpc.backend:VPCBackend",
            config=VPC_CONFIG,
            validate=vpc_problems,
            default_storage="ibm_cos",
            shared_sections=(*_SHARED, "standalone"),
            description="IBM Cloud VPC virtual servers that run calls as they arrive",
        ),
    ]


@hookimpl
def lithops_runtime_builders() -> list[RuntimeBuilderSpec]:
    """The runtime builder of ``code_engine`` (container images)."""
    return [
        RuntimeBuilderSpec(name="code_engine", backend="lithops_ibm.code_engine.runtime:CodeEngineRuntimeBuilder",
                           config=CE_CONFIG, shared_sections=_SHARED, validate=ce_problems,
                           description="Code Engine runtimes: container images pushed to docker_server"),
    ]
