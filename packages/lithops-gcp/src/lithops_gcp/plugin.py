"""Registers the Google Cloud backends with Lithops: specs and config schemas only, no Google SDK import.

The keys follow Lithops' ``gcp``, ``gcp_storage``, ``gcp_cloudrun``, ``gcp_functions`` and ``gcp_compute_engine``
sections (the last with the ``standalone`` section's keys). The shared
``gcp`` section (project, region, credentials) fills in the keys a backend's own section does not set. With no
credentials in the config, ``GOOGLE_APPLICATION_CREDENTIALS`` or the application-default credentials
(``gcloud auth application-default login``, or the service account of the machine) are used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lithops.plugins import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, StorageBackendSpec, hookimpl
from lithops.standalone.config import STANDALONE_CONFIG

#: The Lithops plugin API this plugin is written for (lithops-core refuses plugins of an API it does not know).
LITHOPS_PLUGIN_API = "1"

_OPT_STR = (str, type(None))
_REGION_RE = re.compile(r"[a-z]+(-[a-z0-9]+)+")


def _region_problem(value: Any) -> str | None:
    if value is None or _REGION_RE.fullmatch(value):
        return None
    return f"is {value!r}; it must be a Google Cloud region such as us-east1 or europe-west1"


def _workers_problem(value: Any) -> str | None:
    if isinstance(value, str) and value != "AUTO":
        return f"is {value!r}; it must be a number of at least 1 or AUTO (one per vCPU of the worker)"
    return None


#: Keys of the shared ``gcp`` section that every Google Cloud backend accepts, in the ``gcp`` section or its own.
CREDENTIAL_KEYS: dict[str, ConfigKey] = {
    "project_name": ConfigKey(type=_OPT_STR, default=None,
                              doc="project id (default: the project of the credentials)"),
    "region": ConfigKey(type=_OPT_STR, default=None, check=_region_problem,
                        doc="region of the services, functions and the default bucket, e.g. us-east1"),
    "credentials_path": ConfigKey(
        type=_OPT_STR, default=None,
        doc="path of a service account key file (default: GOOGLE_APPLICATION_CREDENTIALS, else the "
            "application-default credentials)"),
    "service_account": ConfigKey(type=_OPT_STR, default=None,
                                 doc="e-mail of the service account the services and functions run as "
                                     "(default: the project's default compute service account)"),
}

GCS_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "storage_bucket": ConfigKey(type=_OPT_STR, default=None,
                                doc="bucket for Lithops' temporary objects (default: lithops-<project>-<region>, "
                                    "created on first use)"),
    "chunk_size": ConfigKey(type=int, default=16 * 1024 * 1024, minimum=256 * 1024,
                            doc="bytes from which uploads are resumable, sent in parts of this size (a multiple "
                                "of 256 KiB)"),
    "timeout": ConfigKey(type=(int, float), default=60, minimum=1, doc="seconds to wait for one request"),
    "retry_timeout": ConfigKey(type=(int, float), default=60, minimum=0,
                               doc="seconds over which a failed request (throttling, a 5xx, a lost connection) is "
                                   "retried before the error is raised"),
}

_API_ENDPOINT_DOC = ("URL of the {api} (default: Google's); set it only for a local stand-in, with which "
                     "anonymous credentials are accepted when no others are found")

_COMPUTE_KEYS: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    "runtime_memory": ConfigKey(type=int, default=256, minimum=128, doc="MiB of memory per worker"),
    "runtime_timeout": ConfigKey(type=int, default=300, minimum=10,
                                 doc="seconds one invocation may run (Cloud Run: at most 3600; functions with "
                                     "a Pub/Sub trigger: 540)"),
    "max_workers": ConfigKey(type=int, default=1000, minimum=1, doc="invocations that may run at once"),
    "worker_processes": ConfigKey(type=(int, str), default=1, minimum=1, check=_workers_problem,
                                  doc="calls one invocation runs at once; AUTO: one per vCPU of the worker"),
    "invoke_pool_threads": ConfigKey(type=int, default=100, minimum=1,
                                     doc="HTTPS connections kept open to the workers (HTTP invocations; requests "
                                         "open at once are max_workers), or threads publishing Pub/Sub messages"),
    "env_vars": ConfigKey(type=dict, default={}, doc="environment variables of the workers ({NAME: value})"),
}

CLOUDRUN_CONFIG: dict[str, ConfigKey] = {
    **_COMPUTE_KEYS,
    "runtime": ConfigKey(type=_OPT_STR, default=None,
                         doc="container image of the workers (name:tag in artifact_registry_repository, or a full "
                             "image URI); default: default-runtime-v<python>, built with 'lithops runtime build'"),
    "runtime_cpu": ConfigKey(type=(int, float), default=1, minimum=0.08,
                             doc="vCPUs per container (below 1 needs runtime_memory of at most 512 MiB)"),
    "min_workers": ConfigKey(type=int, default=0, minimum=0, doc="container instances kept warm"),
    "artifact_registry_repository": ConfigKey(
        type=str, default="lithops",
        doc="Artifact Registry repository (Docker format, in region) that runtime images are pushed to"),
    "api_endpoint": ConfigKey(type=_OPT_STR, default=None,
                              doc=_API_ENDPOINT_DOC.format(api="Cloud Run Admin API")),
    "deploy_timeout": ConfigKey(type=int, default=600, minimum=10,
                                doc="seconds to wait for a new service revision to be ready"),
}

FUNCTIONS_CONFIG: dict[str, ConfigKey] = {
    **_COMPUTE_KEYS,
    "runtime": ConfigKey(type=_OPT_STR, default=None,
                         doc="requirements file of the functions' extra packages (default: none besides Lithops')"),
    "trigger": ConfigKey(type=str, default="pub/sub", choices=("pub/sub", "https"),
                         doc="how calls reach the functions: messages on a Pub/Sub topic, or HTTPS requests"),
    "api_endpoint": ConfigKey(type=_OPT_STR, default=None,
                              doc=_API_ENDPOINT_DOC.format(api="Cloud Functions API")),
    "deploy_timeout": CLOUDRUN_CONFIG["deploy_timeout"],
}

_ZONE_RE = re.compile(r"[a-z]+(-[a-z0-9]+)+-[a-z]")
_LABEL_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def _zone_problem(value: Any) -> str | None:
    if value is None or _ZONE_RE.fullmatch(value):
        return None
    return f"is {value!r}; it must be a Compute Engine zone such as us-east1-b"


def _labels_problem(value: Any) -> str | None:
    bad = [k for k, v in value.items() if not _LABEL_RE.fullmatch(str(k)) or not isinstance(v, str) or len(v) > 63]
    if bad:
        return (f"has {', '.join(map(repr, bad))}: label keys start with a lowercase letter and hold lowercase "
                f"letters, digits, - and _ (at most 63), values are text of at most 63 characters")
    return None


COMPUTE_ENGINE_CONFIG: dict[str, ConfigKey] = {
    **CREDENTIAL_KEYS,
    **STANDALONE_CONFIG,
    "service_account": ConfigKey(
        type=_OPT_STR, default=None,
        doc="e-mail of the service account the VMs run as; it needs read/write access to the storage bucket "
            "(default: the project's default compute service account)"),
    "zone": ConfigKey(type=_OPT_STR, default=None, check=_zone_problem,
                      doc="zone of the VMs, e.g. us-east1-b (default: zone b of region)"),
    "machine_type": ConfigKey(type=str, default="e2-standard-2", doc="machine type of the worker VMs"),
    "source_image": ConfigKey(
        type=_OPT_STR, default=None,
        doc="boot image of the VMs: an image or image family URL, e.g. projects/debian-cloud/global/images/family/"
            "debian-12 (default: a Debian or Ubuntu family whose python3 is the client's version)"),
    "disk_size": ConfigKey(type=int, default=10, minimum=10, doc="GB of the VMs' boot disk"),
    "network": ConfigKey(type=str, default="global/networks/default", doc="VPC network of the VMs"),
    "subnetwork": ConfigKey(type=_OPT_STR, default=None,
                            doc="subnetwork of the VMs, e.g. regions/us-east1/subnetworks/lithops (default: the "
                                "network's subnetwork in the region)"),
    "external_ip": ConfigKey(type=bool, default=True,
                             doc="give the VMs an ephemeral external IP address (without one, they reach PyPI and "
                                 "Cloud Storage only through Cloud NAT and Private Google Access)"),
    "request_spot_instances": ConfigKey(type=bool, default=False, doc="create Spot VMs"),
    "preemptible": ConfigKey(type=bool, default=False, doc="Lithops's older name of request_spot_instances"),
    "max_workers": ConfigKey(type=int, default=1, minimum=1, doc="worker VMs to start"),
    "delete_on_dismantle": ConfigKey(type=bool, default=True,
                                     doc="create mode: Spot VMs taken back are deleted (false: stopped)"),
    "instance_name": ConfigKey(type=_OPT_STR, default=None,
                               doc="the VM to use in consume mode (the agent is installed on it over SSH)"),
    "labels": ConfigKey(type=dict, default={}, check=_labels_problem, doc="labels added to the VMs Lithops creates"),
    "install_dir": ConfigKey(type=str, default="/opt/lithops", doc="folder on the VMs for Lithops's code and agent"),
    "api_endpoint": ConfigKey(type=_OPT_STR, default=None, doc=_API_ENDPOINT_DOC.format(api="Compute Engine API")),
}

_SHARED = ("gcp",)


def memory_fits_cpus(section: Mapping[str, Any]) -> list[str] | None:
    """What Cloud Run refuses between ``runtime_cpu`` and ``runtime_memory`` (no API call)."""
    cpu, memory = float(section["runtime_cpu"]), int(section["runtime_memory"])
    problems = []
    if cpu < 1 and memory > 512:
        problems.append(f"runtime_cpu {cpu:g} allows at most 512 MiB of runtime_memory (it is {memory}): raise "
                        f"runtime_cpu to 1 or lower runtime_memory")
    if cpu > 1 and cpu not in (2, 4, 6, 8):
        problems.append(f"runtime_cpu is {cpu:g}; above 1 Cloud Run takes 2, 4, 6 or 8")
    if int(section["runtime_timeout"]) > 3600:
        problems.append(f"runtime_timeout is {section['runtime_timeout']}; Cloud Run allows at most 3600 seconds")
    return problems or None


def functions_problems(section: Mapping[str, Any]) -> list[str] | None:
    """What Cloud Functions refuses in a ``gcp_functions`` section (no API call)."""
    limit = 540 if section["trigger"] == "pub/sub" else 3600
    if int(section["runtime_timeout"]) > limit:
        return [f"runtime_timeout is {section['runtime_timeout']}; functions with the {section['trigger']} trigger "
                f"run at most {limit} seconds. Lower it" + (", or use trigger: https (up to 3600 s)"
                                                             if limit == 540 else "")]
    return None


@hookimpl
def lithops_storage_backends() -> list[StorageBackendSpec]:
    """The ``gcp_storage`` storage backend (Google Cloud Storage)."""
    return [
        StorageBackendSpec(
            name="gcp_storage",
            backend="lithops_gcp.gcs.storage:GCSStorage",
            config=GCS_CONFIG,
            shared_sections=_SHARED,
            url_schemes=("gs", "gcs"),
            description="Google Cloud Storage (STORAGE_EMULATOR_HOST for an emulator)",
        )
    ]


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``gcp_cloudrun`` and ``gcp_functions`` serverless backends and the ``gcp_compute_engine`` standalone
    backend.
    """
    return [
        ComputeBackendSpec(
            name="gcp_cloudrun",
            mode="serverless",
            backend="lithops_gcp.gcp_cloudrun.backend:CloudRunBackend",
            config=CLOUDRUN_CONFIG,
            validate=memory_fits_cpus,
            default_storage="gcp_storage",
            shared_sections=_SHARED,
            description="Cloud Run services running a container runtime, invoked over HTTPS",
        ),
        ComputeBackendSpec(
            name="gcp_functions",
            mode="serverless",
            backend="lithops_gcp.gcp_functions.backend:FunctionsBackend",
            config=FUNCTIONS_CONFIG,
            validate=functions_problems,
            default_storage="gcp_storage",
            shared_sections=_SHARED,
            description="Cloud Functions (2nd gen) triggered through Pub/Sub or HTTPS",
        ),
        ComputeBackendSpec(
            name="gcp_compute_engine",
            mode="standalone",
            backend="lithops_gcp.gcp_compute_engine.backend:ComputeEngineBackend",
            config=COMPUTE_ENGINE_CONFIG,
            default_storage="gcp_storage",
            shared_sections=(*_SHARED, "standalone"),
            description="Compute Engine VMs that run calls as they arrive",
        ),
    ]


@hookimpl
def lithops_runtime_builders() -> list[RuntimeBuilderSpec]:
    """Runtime builders of ``gcp_cloudrun`` (container images) and ``gcp_functions`` (source zips)."""
    return [
        RuntimeBuilderSpec(name="gcp_cloudrun", backend="lithops_gcp.gcp_cloudrun.runtime:CloudRunRuntimeBuilder",
                           config=CLOUDRUN_CONFIG, shared_sections=_SHARED, validate=memory_fits_cpus,
                           description="Cloud Run runtimes: container images pushed to Artifact Registry"),
        RuntimeBuilderSpec(name="gcp_functions",
                           backend="lithops_gcp.gcp_functions.runtime:FunctionsRuntimeBuilder",
                           config=FUNCTIONS_CONFIG, shared_sections=_SHARED, validate=functions_problems,
                           description="Cloud Functions runtimes: our handler and a requirements file"),
    ]
