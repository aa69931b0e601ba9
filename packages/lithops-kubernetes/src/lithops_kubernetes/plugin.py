"""Registers the Kubernetes backends with Lithops: specs and config schemas only, no ``kubernetes`` import.

The keys follow Lithops 3.x's ``k8s`` and ``knative`` sections. Both find the cluster the way ``kubectl`` does:
``kubecfg_path``, else ``$KUBECONFIG``, else ``~/.kube/config``, else the pod's service account when Lithops itself
runs in the cluster.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

from lithops.plugins import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, hookimpl

#: The Lithops plugin API this plugin is written for (lithops-core refuses plugins of an API it does not know).
LITHOPS_PLUGIN_API = "1"

_OPT_STR = (str, type(None))
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

#: Lithops 3.x keys that this plugin accepts and does not use, with what to do instead.
UNUSED_KEYS = {
    "rabbitmq_executor": "calls are always handed out through the Job's completion index; remove the key",
    "git_url": "build the image locally with 'lithops runtime build -b knative' instead; remove the key",
    "git_rev": "build the image locally with 'lithops runtime build -b knative' instead; remove the key",
}


def warn_unused(section: Mapping[str, Any], name: str) -> None:
    """Warn about each Lithops 3.x key of ``section`` that has no effect here (never ignored silently)."""
    for key, advice in UNUSED_KEYS.items():
        if section.get(key):
            warnings.warn(f"{name}.{key} has no effect with lithops-kubernetes: {advice}.", UserWarning, stacklevel=3)


def _namespace_problem(value: Any) -> str | None:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        return (f"is {value!r}; a Kubernetes namespace is at most 63 lower-case letters, digits and '-', "
                f"starting and ending with a letter or digit")
    return None


def _workers_problem(value: Any) -> str | None:
    if isinstance(value, str) and value != "AUTO":
        return f"is {value!r}; it must be a number of at least 1 or AUTO (one per CPU of the pod)"
    return None


#: Keys of both backends: where the cluster is, the image, the registry and the pod's resources.
CLUSTER_KEYS: dict[str, ConfigKey] = {
    "kubecfg_path": ConfigKey(type=_OPT_STR, default=None,
                              doc="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the pod's "
                                  "service account when run inside the cluster)"),
    "kubecfg_context": ConfigKey(type=_OPT_STR, default=None,
                                 doc="context of the kubeconfig to use (default: its current-context)"),
    "namespace": ConfigKey(type=_OPT_STR, default=None, check=_namespace_problem,
                           doc="namespace of the Jobs and Services (default: the context's namespace, else "
                               "'default')"),
    "runtime": ConfigKey(type=_OPT_STR, default=None,
                         doc="container image of the workers (default: <docker_server>/<docker_user>/lithops-<backend>-"
                             "default-v<python>:<version>, which 'lithops runtime build' makes and pushes)"),
    "docker_server": ConfigKey(type=str, default="docker.io", doc="container registry of the images Lithops builds"),
    "docker_user": ConfigKey(type=_OPT_STR, default=None, doc="registry user (also the image's namespace there)"),
    "docker_password": ConfigKey(type=_OPT_STR, default=None, secret=True, doc="registry password or access token"),
    "image_pull_secret": ConfigKey(type=_OPT_STR, default=None,
                                   doc="name of a Secret of type kubernetes.io/dockerconfigjson the pods pull "
                                       "private images with"),
    "service_account": ConfigKey(type=_OPT_STR, default=None,
                                 doc="service account the pods run as (default: the namespace's 'default')"),
    "env_vars": ConfigKey(type=dict, default={}, doc="environment variables of the workers ({NAME: value})"),
    "request_timeout": ConfigKey(type=(int, float), default=30, minimum=1,
                                 doc="seconds one Kubernetes API request may take"),
    "pod_security": ConfigKey(type=str, default="baseline", choices=("baseline", "restricted"),
                              doc="Pod Security Standard the pods satisfy: 'restricted' also runs them as a "
                                  "non-root user (the image must allow it)"),
    "run_as_user": ConfigKey(type=int, default=1000, minimum=1,
                             doc="user id of the pods under pod_security 'restricted'"),
    "rabbitmq_executor": ConfigKey(type=(bool, type(None)), default=None,
                                   doc="Lithops 3.x key; has no effect (a warning says so)"),
}

K8S_CONFIG: dict[str, ConfigKey] = {
    **CLUSTER_KEYS,
    "runtime_cpu": ConfigKey(type=(int, float), default=0.5, minimum=0.001, doc="CPUs of each pod (request and limit)"),
    "runtime_memory": ConfigKey(type=int, default=256, minimum=32, doc="MiB of memory of each pod (request and limit)"),
    "runtime_timeout": ConfigKey(type=int, default=600, minimum=10,
                                 doc="seconds a pod may run its calls; the pod is stopped after it"),
    "runtime_arch": ConfigKey(type=_OPT_STR, default=None, choices=(None, "amd64", "arm64"),
                              doc="CPU architecture of the nodes the pods run on and of the images built "
                                  "(default: that of the cluster's nodes)"),
    "max_workers": ConfigKey(type=int, default=200, minimum=1,
                             doc="pods of one map at most (the Job's parallelism and completions)"),
    "worker_processes": ConfigKey(type=(int, str), default=1, minimum=1, check=_workers_problem,
                                  doc="calls one pod runs at once; AUTO: one per CPU of the pod"),
}

KNATIVE_CONFIG: dict[str, ConfigKey] = {
    **CLUSTER_KEYS,
    "runtime_cpu": ConfigKey(type=(int, float), default=1, minimum=0.001, doc="CPUs of each instance"),
    "runtime_memory": ConfigKey(type=int, default=512, minimum=32, doc="MiB of memory of each instance"),
    "runtime_timeout": ConfigKey(type=int, default=600, minimum=10,
                                 doc="seconds one request (one group of calls) may take"),
    "max_workers": ConfigKey(type=int, default=100, minimum=1, doc="requests (groups of calls) in flight at once"),
    "worker_processes": ConfigKey(type=(int, str), default=1, minimum=1, check=_workers_problem,
                                  doc="calls one request runs at once; AUTO: one per CPU of the instance"),
    "invoke_pool_threads": ConfigKey(type=int, default=100, minimum=1,
                                     doc="client threads that send requests in parallel"),
    "min_instances": ConfigKey(type=int, default=0, minimum=0,
                               doc="instances kept running (autoscaling.knative.dev/min-scale)"),
    "max_instances": ConfigKey(type=int, default=250, minimum=1,
                               doc="instances at most (autoscaling.knative.dev/max-scale)"),
    "concurrency": ConfigKey(type=int, default=1, minimum=1, doc="requests one instance takes at once"),
    "networking_layer": ConfigKey(type=str, default="kourier", choices=("kourier", "istio", "contour"),
                                  doc="Knative's ingress, whose Service gives the endpoint when ingress_endpoint "
                                      "is unset"),
    "ingress_endpoint": ConfigKey(type=_OPT_STR, default=None,
                                  doc="http://host:port of the ingress; requests carry the Knative Service's host "
                                      "name (default: the networking layer's LoadBalancer address)"),
    "git_url": ConfigKey(type=_OPT_STR, default=None, doc="Lithops 3.x key; has no effect (a warning says so)"),
    "git_rev": ConfigKey(type=_OPT_STR, default=None, doc="Lithops 3.x key; has no effect (a warning says so)"),
}


def _knative_problems(section: Mapping[str, Any]) -> list[str] | None:
    problems = []
    if section["min_instances"] > section["max_instances"]:
        problems.append(f"min_instances ({section['min_instances']}) is more than max_instances "
                        f"({section['max_instances']}): lower min_instances or raise max_instances")
    endpoint = section.get("ingress_endpoint")
    if endpoint and not re.match(r"https?://", endpoint):
        problems.append(f"ingress_endpoint is {endpoint!r}; it must start with http:// or https://")
    return problems or None


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``k8s`` and ``knative`` serverless backends."""
    return [
        ComputeBackendSpec(
            name="k8s",
            mode="serverless",
            backend="lithops_kubernetes.k8s.backend:K8sBackend",
            config=K8S_CONFIG,
            default_storage="aws_s3",
            description="Kubernetes batch Jobs with indexed completions, one per map",
        ),
        ComputeBackendSpec(
            name="knative",
            mode="serverless",
            backend="lithops_kubernetes.knative.backend:KnativeBackend",
            config=KNATIVE_CONFIG,
            validate=_knative_problems,
            default_storage="aws_s3",
            description="a Knative Service per runtime, invoked over HTTP through the ingress",
        ),
    ]


@hookimpl
def lithops_runtime_builders() -> list[RuntimeBuilderSpec]:
    """Runtime builders of ``k8s`` and ``knative``: container images pushed to the configured registry."""
    return [
        RuntimeBuilderSpec(name="k8s", backend="lithops_kubernetes.k8s.runtime:K8sRuntimeBuilder",
                           config=K8S_CONFIG, description="k8s runtimes: container images (docker, podman or buildah)"),
        RuntimeBuilderSpec(name="knative", backend="lithops_kubernetes.knative.runtime:KnativeRuntimeBuilder",
                           config=KNATIVE_CONFIG, validate=_knative_problems,
                           description="knative runtimes: images and the Knative Services that serve them"),
    ]
