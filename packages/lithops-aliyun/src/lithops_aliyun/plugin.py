"""Registers the Alibaba Cloud backends with Lithops: specs and config schemas only, no SDK import.

The keys follow Lithops 3.x's ``aliyun``, ``aliyun_oss`` and ``aliyun_fc`` sections. The shared ``aliyun`` section
(account, keys, region) fills in the keys a backend's own section does not set. With no keys anywhere, the
credential chain of Alibaba's SDKs is used (``ALIBABA_CLOUD_ACCESS_KEY_ID``/``ALIBABA_CLOUD_ACCESS_KEY_SECRET``,
``~/.alibabacloud/credentials``, an ECS RAM role, OIDC; inside Function Compute, the function's role).
"""

from __future__ import annotations

import re
from typing import Any

from lithops.plugins import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, StorageBackendSpec, hookimpl

#: The Lithops plugin API this plugin is written for (lithops-core refuses plugins of an API it does not know).
LITHOPS_PLUGIN_API = "1"

_OPT_STR = (str, type(None))

#: Function Compute's limit of instances running at once in a region (the default quota of an account).
FC_MAX_INSTANCES = 300
#: Memory sizes Function Compute 3.0 accepts, in MiB (multiples of 64).
FC_MEMORY_RANGE = (128, 32768)
#: Function timeouts Function Compute 3.0 accepts, in seconds.
FC_TIMEOUT_RANGE = (1, 86400)
#: What a RAM role ARN looks like: ``acs:ram::<account id>:role/<role name>``.
ROLE_ARN_RE = re.compile(r"acs:ram::\d+:role/[A-Za-z0-9._@-]{1,64}", re.IGNORECASE)

#: Keys of the shared ``aliyun`` section that every Alibaba Cloud backend accepts, there or in its own section.
CREDENTIAL_KEYS: dict[str, ConfigKey] = {
    "region": ConfigKey(type=_OPT_STR, default=None,
                        doc="region id, e.g. cn-hangzhou (default: ALIBABA_CLOUD_REGION_ID)"),
    "access_key_id": ConfigKey(type=_OPT_STR, default=None, secret=True,
                               doc="AccessKey id; leave unset to use the SDKs' credential chain"),
    "access_key_secret": ConfigKey(type=_OPT_STR, default=None, secret=True,
                                   doc="AccessKey secret; leave unset to use the SDKs' credential chain"),
    "security_token": ConfigKey(type=_OPT_STR, default=None, secret=True,
                                doc="STS token of temporary credentials"),
    "account_id": ConfigKey(type=_OPT_STR, default=None,
                            doc="Alibaba Cloud account id (UID): the default role ARN and bucket name use it"),
}


def _memory_problem(value: Any) -> str | None:
    low, high = FC_MEMORY_RANGE
    if not low <= value <= high or value % 64:
        return f"is {value}; Function Compute takes a multiple of 64 MiB from {low} to {high}"
    return None


def _timeout_problem(value: Any) -> str | None:
    low, high = FC_TIMEOUT_RANGE
    if not low <= value <= high:
        return f"is {value}; Function Compute takes {low} to {high} seconds"
    return None


def _max_workers_problem(value: Any) -> str | None:
    if value > FC_MAX_INSTANCES:
        return (f"is {value}; Function Compute runs at most {FC_MAX_INSTANCES} instances at once in a region: "
                f"lower it to {FC_MAX_INSTANCES} or less (or raise worker_processes to run more calls per instance)")
    return None


def _role_problem(value: Any) -> str | None:
    if value is not None and not ROLE_ARN_RE.fullmatch(value):
        return f"is {value!r}; it must be a RAM role ARN such as acs:ram::1234567890123456:role/lithops-fc-role"
    return None


def _workers_problem(value: Any) -> str | None:
    if isinstance(value, str) and value != "AUTO":
        return f"is {value!r}; it must be a number of at least 1 or AUTO (one per vCPU of the instance)"
    return None


def _env_problem(value: Any) -> str | None:
    if isinstance(value, dict) or all(isinstance(e, dict) and set(e) == {"name", "value"} for e in value):
        return None
    return f"is {value!r}; it must be a mapping {{NAME: value}} or a list of {{'name': NAME, 'value': value}}"


_ENDPOINT_DOC = "endpoint of the service (host or URL); for emulators and private endpoints"

OSS_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "storage_bucket": ConfigKey(type=_OPT_STR, default=None,
                                doc="bucket for Lithops' temporary objects (default: lithops-<region>-<account "
                                    "id, or a digest of the access key>, created when absent)"),
    "endpoint": ConfigKey(type=_OPT_STR, default=None,
                          doc=f"{_ENDPOINT_DOC} (default: the region's public endpoint)"),
    "internal_endpoint": ConfigKey(type=(bool, str), default=True,
                                   doc="workers in Function Compute of the bucket's region use the internal "
                                       "endpoint (true), a given host, or the public one (false)"),
    "connect_timeout": ConfigKey(type=(int, float), default=10, minimum=0.1, doc="seconds to open a connection"),
    "read_timeout": ConfigKey(type=(int, float), default=60, minimum=0.1, doc="seconds to wait for a response"),
    "max_attempts": ConfigKey(type=int, default=3, minimum=1, doc="attempts of each request (the SDK's retries)"),
    "multipart_threshold": ConfigKey(type=int, default=64 * 1024 * 1024, minimum=100 * 1024,
                                     doc="bytes from which uploads are multipart (streamed in parts)"),
    "multipart_chunksize": ConfigKey(type=int, default=16 * 1024 * 1024, minimum=100 * 1024,
                                     doc="part size of multipart uploads, in bytes (OSS's minimum: 100 KiB)"),
}

FC_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "endpoint": ConfigKey(type=_OPT_STR, default=None,
                          doc=f"{_ENDPOINT_DOC} (default: fcv3.<region>.aliyuncs.com)"),
    "role_arn": ConfigKey(type=_OPT_STR, default=None, check=_role_problem,
                          doc="RAM role the functions run as (OSS access); default: "
                              "acs:ram::<account_id>:role/aliyunfcdefaultrole"),
    "deploy_mode": ConfigKey(type=str, default="runtime", choices=("runtime", "custom-container"),
                             doc="runtime: a code zip on FC's managed Python runtime; custom-container: an image "
                                 "from Container Registry"),
    "runtime": ConfigKey(type=_OPT_STR, default=None,
                         doc="runtime name: a dependencies runtime built with 'lithops runtime build', or in "
                             "custom-container mode an image; default: the built-in runtime of the client's Python"),
    "runtime_memory": ConfigKey(type=int, default=256, minimum=128, check=_memory_problem,
                                doc="MiB of memory per instance (multiple of 64, 128-32768)"),
    "runtime_timeout": ConfigKey(type=int, default=300, minimum=1, check=_timeout_problem,
                                 doc="function timeout in seconds (1-86400)"),
    "runtime_cpu": ConfigKey(type=(int, float, type(None)), default=None, minimum=0.05,
                             doc="vCPUs per instance (default: FC's for the memory size)"),
    "max_workers": ConfigKey(type=int, default=FC_MAX_INSTANCES, minimum=1, check=_max_workers_problem,
                             doc=f"invocations running at once (at most {FC_MAX_INSTANCES}, FC's instance limit)"),
    "worker_processes": ConfigKey(type=(int, str), default=1, minimum=1, check=_workers_problem,
                                  doc="calls one invocation runs at once; AUTO: one per vCPU"),
    "invoke_pool_threads": ConfigKey(type=int, default=64, minimum=1, doc="client threads that invoke in parallel"),
    "invoke_max_retries": ConfigKey(type=int, default=8, minimum=0,
                                    doc="retries of a throttled or failed invocation, with backoff and jitter"),
    "env_vars": ConfigKey(type=(dict, list), default={}, check=_env_problem,
                          doc="environment variables of the functions"),
    "namespace": ConfigKey(type=_OPT_STR, default=None,
                           doc="prefix of the function names, to keep several deployments apart in one account"),
}

_SHARED = ("aliyun",)


@hookimpl
def lithops_storage_backends() -> list[StorageBackendSpec]:
    """The ``aliyun_oss`` storage backend."""
    return [
        StorageBackendSpec(
            name="aliyun_oss",
            backend="lithops_aliyun.oss.storage:OSSStorage",
            config=OSS_CONFIG,
            shared_sections=_SHARED,
            url_schemes=("oss",),
            description="Alibaba Cloud Object Storage Service (OSS)",
        )
    ]


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``aliyun_fc`` serverless backend."""
    return [
        ComputeBackendSpec(
            name="aliyun_fc",
            mode="serverless",
            backend="lithops_aliyun.fc.backend:FCBackend",
            config=FC_CONFIG,
            default_storage="aliyun_oss",
            shared_sections=_SHARED,
            description="Alibaba Cloud Function Compute 3.0 (asynchronous invocations)",
        )
    ]


@hookimpl
def lithops_runtime_builders() -> list[RuntimeBuilderSpec]:
    """Runtime builder of ``aliyun_fc``: dependency zips (no container tool) and container images."""
    return [
        RuntimeBuilderSpec(name="aliyun_fc", backend="lithops_aliyun.fc.runtime:FCRuntimeBuilder",
                           config=FC_CONFIG, shared_sections=_SHARED,
                           description="Function Compute runtimes: dependency zips or container images"),
    ]
