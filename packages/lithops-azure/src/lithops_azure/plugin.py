"""Registers the Azure backends with Lithops: specs and config schemas only, no Azure SDK import.

The keys follow Lithops' ``azure``, ``azure_storage``, ``azure_containers``, ``azure_functions`` and ``azure_vms``
sections. The
shared ``azure`` section (subscription, resource group, region) and the ``azure_storage`` section (the storage
account, whose queues also deliver calls) fill in the keys a compute section does not set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lithops.plugins import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, StorageBackendSpec, hookimpl
from lithops.standalone.config import STANDALONE_CONFIG, check_cidr

#: The Lithops plugin API this plugin is written for (lithops-core refuses plugins of an API it does not know).
LITHOPS_PLUGIN_API = "1"

_OPT_STR = (str, type(None))

#: Keys of the shared ``azure`` section: where management calls go and with what identity.
ARM_KEYS: dict[str, ConfigKey] = {
    "subscription_id": ConfigKey(type=_OPT_STR, default=None,
                                 doc="subscription of the resources (default: AZURE_SUBSCRIPTION_ID)"),
    "resource_group": ConfigKey(type=_OPT_STR, default=None, doc="resource group of the apps Lithops deploys"),
    "region": ConfigKey(type=_OPT_STR, default=None, doc="Azure region of new resources, e.g. westeurope"),
    "arm_endpoint": ConfigKey(type=str, default="https://management.azure.com",
                              doc="Azure Resource Manager endpoint (sovereign clouds, Azure Stack)"),
    "access_token": ConfigKey(type=_OPT_STR, default=None, secret=True,
                              doc="a bearer token for Resource Manager used as is (e.g. from 'az account "
                                  "get-access-token'); default: azure-identity's DefaultAzureCredential"),
}

#: Keys of the ``azure_storage`` section that compute backends read too (their queues live in that account).
ACCOUNT_KEYS: dict[str, ConfigKey] = {
    "storage_account_name": ConfigKey(type=_OPT_STR, default=None, doc="storage account name"),
    "storage_account_key": ConfigKey(type=_OPT_STR, default=None, secret=True,
                                     doc="storage account key; without it, DefaultAzureCredential is used"),
    "connection_string": ConfigKey(type=_OPT_STR, default=None, secret=True,
                                   doc="storage connection string (Azurite, Azure Stack, sovereign clouds); default: "
                                       "AZURE_STORAGE_CONNECTION_STRING, else the account name and key"),
}

STORAGE_CONFIG: dict[str, ConfigKey] = {
    **ACCOUNT_KEYS,
    "storage_bucket": ConfigKey(type=_OPT_STR, default=None,
                                doc="container for Lithops' temporary objects (default: lithops-<account>); "
                                    "created when absent"),
    "max_single_put_size": ConfigKey(type=int, default=64 * 1024 * 1024, minimum=1024,
                                     doc="bytes up to which an upload is one request; larger ones go in blocks"),
    "max_block_size": ConfigKey(type=int, default=8 * 1024 * 1024, minimum=1024, doc="block size of uploads"),
    "max_concurrency": ConfigKey(type=int, default=4, minimum=1, doc="parallel requests of one transfer"),
    "connection_timeout": ConfigKey(type=(int, float), default=10, minimum=0.1,
                                    doc="seconds to open a connection"),
    "read_timeout": ConfigKey(type=(int, float), default=60, minimum=0.1, doc="seconds to wait for a response"),
    "max_attempts": ConfigKey(type=int, default=4, minimum=1,
                              doc="attempts of each request (the SDK's exponential retries)"),
}


def _env_vars_problem(value: Any) -> str | None:
    if all(isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in value.items()):
        return None
    return f"is {value!r}; it must be a mapping {{NAME: value}} of strings"


_COMMON_COMPUTE: dict[str, ConfigKey] = {
    **ARM_KEYS,
    **ACCOUNT_KEYS,
    "worker_processes": ConfigKey(type=int, default=1, minimum=1, doc="calls one invocation runs at once"),
    "invoke_pool_threads": ConfigKey(type=int, default=32, minimum=1, doc="client threads that send calls"),
    "env_vars": ConfigKey(type=dict, default={}, check=_env_vars_problem,
                          doc="environment variables of the workers ({NAME: value})"),
    "trigger": ConfigKey(type=str, default="pub/sub", choices=("pub/sub",),
                         doc="how calls reach the workers: 'pub/sub', an Azure Storage queue"),
}

#: Memory sizes (MiB) Container Apps' consumption profile offers, each with its vCPUs (2 GiB per vCPU).
CONTAINER_MEMORY_CPU: dict[int, float] = {512 * n: 0.25 * n for n in range(1, 17)}

CONTAINERS_CONFIG: dict[str, ConfigKey] = {
    **_COMMON_COMPUTE,
    "environment": ConfigKey(type=_OPT_STR, default=None,
                             doc="name of the Container Apps environment, in resource_group"),
    "environment_id": ConfigKey(type=_OPT_STR, default=None,
                                doc="full resource id of the environment (one of another resource group)"),
    "runtime": ConfigKey(type=_OPT_STR, default=None,
                         doc="container image of the workers (default: lithops-azure-default-py<XY>:<version> "
                             "on docker_server, built and pushed when its app is deployed)"),
    "runtime_memory": ConfigKey(type=int, default=512, minimum=512,
                                doc="MiB per replica: 512 to 8192 in steps of 512 (0.25 vCPU per 512 MiB)"),
    "runtime_timeout": ConfigKey(type=int, default=600, minimum=10, doc="seconds one call may run"),
    "max_workers": ConfigKey(type=int, default=100, minimum=1, doc="replicas at most (maxReplicas, up to 1000)"),
    "docker_server": ConfigKey(type=_OPT_STR, default=None, doc="container registry, e.g. myregistry.azurecr.io"),
    "docker_user": ConfigKey(type=_OPT_STR, default=None, doc="registry user (admin user or a service principal)"),
    "docker_password": ConfigKey(type=_OPT_STR, default=None, secret=True, doc="registry password"),
    "queue_visibility": ConfigKey(type=int, default=60, minimum=1,
                                  doc="seconds a replica keeps a taken call message hidden between renewals; a "
                                      "killed replica's calls come back to the queue after it"),
    "max_deliveries": ConfigKey(type=int, default=3, minimum=1,
                                doc="deliveries of one call message; its calls fail after the last (poison)"),
}


def containers_problems(section: Mapping[str, Any]) -> list[str]:
    """What Container Apps would refuse in an ``azure_containers`` section (no Azure call)."""
    problems = []
    memory = int(section.get("runtime_memory") or 512)
    if memory not in CONTAINER_MEMORY_CPU:
        problems.append(f"runtime_memory is {memory} MiB, which Container Apps does not offer: choose one of "
                        f"{', '.join(map(str, CONTAINER_MEMORY_CPU))} MiB (0.25 vCPU per 512 MiB)")
    if int(section.get("max_workers") or 1) > 1000:
        problems.append(f"max_workers is {section.get('max_workers')}; a Container App has at most 1000 replicas")
    return problems


#: Instance memory sizes (MiB) of the Flex Consumption plan.
FLEX_MEMORY = (512, 2048, 4096)

FUNCTIONS_CONFIG: dict[str, ConfigKey] = {
    **_COMMON_COMPUTE,
    "trigger": ConfigKey(type=str, default="pub/sub", choices=("pub/sub", "https"),
                         doc="how calls reach the functions: 'pub/sub' (an Azure Storage queue) or 'https'"),
    "runtime": ConfigKey(type=_OPT_STR, default=None,
                         doc="pip requirements added to the function app (space separated), besides Lithops"),
    "runtime_memory": ConfigKey(type=int, default=2048, choices=FLEX_MEMORY,
                                doc="instance memory of the Flex Consumption plan, MiB"),
    "runtime_timeout": ConfigKey(type=int, default=300, minimum=10, doc="seconds one invocation may run"),
    "max_workers": ConfigKey(type=int, default=100, minimum=1, doc="instances at most (up to 1000)"),
    "functions_version": ConfigKey(type=int, default=4, choices=(4,), doc="Azure Functions runtime version"),
    "invoke_endpoint": ConfigKey(type=_OPT_STR, default=None,
                                 doc="base URL of the app's HTTP trigger (default: https://<its host name>); for "
                                     "private endpoints and local hosts"),
    "max_deliveries": ConfigKey(type=int, default=5, minimum=1,
                                doc="deliveries of one queue message (the host's maxDequeueCount); its calls fail "
                                    "after the last"),
}



VMS_CONFIG: dict[str, ConfigKey] = {
    **ARM_KEYS,
    **STANDALONE_CONFIG,
    "image_id": ConfigKey(type=_OPT_STR, default=None,
                          doc="image of the VMs: a platform image URN publisher:offer:sku:version (e.g. "
                              "Canonical:ubuntu-24_04-lts:server:latest) or the resource id of an image or gallery "
                              "image version (default: the Ubuntu or Debian image whose python3 is the client's)"),
    "worker_instance_type": ConfigKey(type=str, default="Standard_B2s", doc="VM size of the worker VMs"),
    "master_instance_type": ConfigKey(type=str, default="Standard_B1s", doc="accepted for compatibility; not used"),
    "ssh_password": ConfigKey(type=_OPT_STR, default=None, secret=True,
                              doc="password of ssh_username on created VMs (default: a random one nobody keeps, "
                                  "unless ssh_key_filename's .pub key is given); consume mode logs in with the key"),
    "instance_name": ConfigKey(type=_OPT_STR, default=None,
                               doc="the VM to use in consume mode, in resource_group (the agent is installed on it "
                                   "over SSH)"),
    "request_spot_instances": ConfigKey(type=bool, default=False,
                                        doc="make Spot VMs (evicted VMs are deleted; max price: the on-demand one)"),
    "max_workers": ConfigKey(type=int, default=1, minimum=1, doc="worker VMs to start"),
    "delete_on_dismantle": ConfigKey(type=bool, default=True,
                                     doc="accepted for compatibility: VMs of exec_mode create are deleted when their "
                                         "executor closes; reuse mode keeps its VMs"),
    "vnet_name": ConfigKey(type=str, default="lithops-vnet",
                           doc="virtual network of created VMs, in resource_group (created when absent, 10.0.0.0/16)"),
    "subnet_name": ConfigKey(type=str, default="lithops-subnet",
                             doc="subnet of created VMs in vnet_name (created when absent, 10.0.0.0/24)"),
    "security_group_name": ConfigKey(type=str, default="lithops-nsg",
                                     doc="network security group of created VMs' NICs (created when absent: nothing "
                                         "in but SSH from ssh_allowed_cidr)"),
    "ssh_allowed_cidr": ConfigKey(type=_OPT_STR, default=None, check=check_cidr,
                                  doc="addresses allowed to reach the VMs' port 22 (lithops attach), e.g. "
                                      "203.0.113.7/32; unset: no inbound port is opened"),
    "public_ip": ConfigKey(type=bool, default=True,
                           doc="give each created VM a public IP address (deleted with it), its way out to storage; "
                               "false: the subnet must have outbound access (a NAT gateway)"),
    "install_dir": ConfigKey(type=str, default="/opt/lithops", doc="folder on the VMs for Lithops's code and agent"),
    "user_tags": ConfigKey(type=dict, default={}, doc="tags added to the VMs Lithops creates"),
}

_SHARED = ("azure", "azure_storage")


@hookimpl
def lithops_storage_backends() -> list[StorageBackendSpec]:
    """The ``azure_storage`` backend (Azure Blob Storage)."""
    return [
        StorageBackendSpec(
            name="azure_storage",
            backend="lithops_azure.blob.storage:AzureBlobStorage",
            config=STORAGE_CONFIG,
            url_schemes=("az", "azure"),
            description="Azure Blob Storage (Azurite and Azure Stack through a connection string)",
        )
    ]


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``azure_containers`` and ``azure_functions`` serverless backends and the ``azure_vms`` standalone one."""
    return [
        ComputeBackendSpec(
            name="azure_containers",
            mode="serverless",
            backend="lithops_azure.containers.backend:ContainerAppsBackend",
            config=CONTAINERS_CONFIG,
            validate=containers_problems,
            default_storage="azure_storage",
            shared_sections=_SHARED,
            description="Azure Container Apps scaled on a storage queue that delivers the calls",
        ),
        ComputeBackendSpec(
            name="azure_functions",
            mode="serverless",
            backend="lithops_azure.functions.backend:FunctionsBackend",
            config=FUNCTIONS_CONFIG,
            default_storage="azure_storage",
            shared_sections=_SHARED,
            description="Azure Functions (Flex Consumption) with a queue or HTTPS trigger",
        ),
        ComputeBackendSpec(
            name="azure_vms",
            mode="standalone",
            backend="lithops_azure.vms.backend:AzureVMsBackend",
            config=VMS_CONFIG,
            default_storage="azure_storage",
            shared_sections=("azure", "standalone"),
            description="Azure virtual machines that run calls as they arrive",
        ),
    ]


@hookimpl
def lithops_runtime_builders() -> list[RuntimeBuilderSpec]:
    """Runtime builders of ``azure_containers`` (images and their apps) and ``azure_functions`` (function apps)."""
    return [
        RuntimeBuilderSpec(name="azure_containers", backend="lithops_azure.runtime:ContainersRuntimeBuilder",
                           config=CONTAINERS_CONFIG, shared_sections=_SHARED, validate=containers_problems,
                           description="Container Apps runtimes: worker images and their apps"),
        RuntimeBuilderSpec(name="azure_functions", backend="lithops_azure.runtime:FunctionsRuntimeBuilder",
                           config=FUNCTIONS_CONFIG, shared_sections=_SHARED,
                           description="Function apps (the package is made at deploy time)"),
    ]
