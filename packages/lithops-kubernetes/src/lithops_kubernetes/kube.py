"""The connection to a cluster, shared by both backends: kubeconfig discovery, the namespace, and Kubernetes API
errors turned into messages that say what to do (an RBAC refusal names the Role that grants what is missing).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from lithops.errors import BackendError, ConfigError

logger = logging.getLogger(__name__)

#: Labels Lithops puts on everything it creates: which executor and job, and that Lithops manages it.
MANAGED_BY = "app.kubernetes.io/managed-by"
EXECUTOR_LABEL = "lithops.io/executor-id"
JOB_LABEL = "lithops.io/job-id"
RUNTIME_LABEL = "lithops.io/runtime"
#: Where a pod learns its service account's namespace when Lithops runs inside the cluster.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

#: What each backend needs in its namespace: (API group, resources, verbs). docs/backends/kubernetes.md has the Role.
ROLE_RULES: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "k8s": [
        ("batch", ["jobs"], ["create", "get", "list", "delete", "deletecollection"]),
        ("", ["pods"], ["get", "list", "delete"]),
        ("", ["pods/log"], ["get"]),
        ("", ["events"], ["list"]),
    ],
    "knative": [
        ("serving.knative.dev", ["services"], ["create", "get", "list", "update", "patch", "delete"]),
    ],
}


def role_manifest(backend: str, namespace: str) -> str:
    """The Role (YAML) that grants ``backend`` what it needs in ``namespace``."""
    lines = ["apiVersion: rbac.authorization.k8s.io/v1", "kind: Role", "metadata:",
             f"  name: lithops-{backend}", f"  namespace: {namespace}", "rules:"]
    for group, resources, verbs in ROLE_RULES[backend]:
        lines += [f'- apiGroups: ["{group}"]', f"  resources: [{', '.join(resources)}]",
                  f"  verbs: [{', '.join(verbs)}]"]
    return "\n".join(lines)


def slug(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1123 label: lower case, ``[a-z0-9-]``, starting and ending with an alphanumeric."""
    value = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return value[:limit].rstrip("-") or "x"


def _config_files(section: Mapping[str, Any]) -> tuple[str, str]:
    """The kubeconfig path(s) to read and where that choice came from."""
    if section.get("kubecfg_path"):
        return os.path.expanduser(str(section["kubecfg_path"])), "kubecfg_path"
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"], "$KUBECONFIG"
    return os.path.expanduser("~/.kube/config"), "~/.kube/config"


class Cluster:
    """An API client of the cluster the section names, its namespace and a bounded request timeout.

    Args:
        section: the backend's config section (``kubecfg_path``, ``kubecfg_context``, ``namespace``,
            ``request_timeout``).
        backend: the backend's name, for messages.

    Raises:
        ConfigError: no kubeconfig and not in a cluster, a context the kubeconfig does not have, or an unreadable file.
    """

    def __init__(self, section: Mapping[str, Any], backend: str) -> None:
        from kubernetes import client, config

        self.backend = backend
        self.timeout = float(section.get("request_timeout") or 30)
        paths, origin = _config_files(section)
        existing = [p for p in paths.split(os.pathsep) if p and os.path.isfile(os.path.expanduser(p))]
        context_name = section.get("kubecfg_context")
        namespace = None
        if existing:
            try:
                contexts, active = config.list_kube_config_contexts(config_file=paths)
            except config.ConfigException as exc:
                raise ConfigError(f"{backend}: the kubeconfig {paths} (from {origin}) cannot be read: {exc}. "
                                  f"Fix the file, or point {backend}.kubecfg_path at another one.") from None
            names = [c["name"] for c in contexts or []]
            if context_name and context_name not in names:
                raise ConfigError(
                    f"{backend}.kubecfg_context is {context_name!r}, which the kubeconfig {paths} does not have. "
                    f"Its contexts: {', '.join(names) or 'none'}. Set kubecfg_context to one of them (or remove it "
                    f"to use the current-context)."
                )
            if not context_name and not active:
                raise ConfigError(f"{backend}: the kubeconfig {paths} has no current-context: set "
                                  f"{backend}.kubecfg_context to one of {', '.join(names) or '(none defined)'}.")
            chosen = next(c for c in contexts if c["name"] == (context_name or active["name"]))
            namespace = (chosen.get("context") or {}).get("namespace")
            try:
                self.api = config.new_client_from_config(config_file=paths, context=context_name,
                                                         persist_config=False)
            except config.ConfigException as exc:
                raise ConfigError(f"{backend}: the kubeconfig {paths} cannot be used: {exc}.") from None
            self.where = f"context {chosen['name']} of {paths}"
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException as exc:
                raise ConfigError(f"{backend}: running in a pod, but its service account cannot be used: {exc}. "
                                  f"Set {backend}.kubecfg_path to a kubeconfig instead.") from None
            self.api = client.ApiClient(configuration)
            try:
                with open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace"), encoding="utf-8") as f:
                    namespace = f.read().strip() or None
            except OSError:
                namespace = None
            self.where = "the pod's service account"
        else:
            raise ConfigError(
                f"{backend}: no kubeconfig found ({origin}: {paths} does not exist) and Lithops is not running in "
                f"a Kubernetes pod. Point {backend}.kubecfg_path (or $KUBECONFIG) at your cluster's kubeconfig, "
                f"e.g. the one 'kubectl config view --raw' shows."
            )
        self.namespace = str(section.get("namespace") or namespace or "default")
        self.host = str(self.api.configuration.host)
        self.core = client.CoreV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with the request timeout, its errors turned into :class:`BackendError`.

        The answer is the client's model (typed as Any: its fields are all optional, and Kubernetes fills them).
        """
        with self.errors(what):
            return fn(*args, _request_timeout=self.timeout, **kwargs)

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn the client's exceptions inside the block into :class:`BackendError` saying what to do."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            yield
        except ApiException as exc:
            raise BackendError(self.describe(what, exc)) from None
        except (HTTPError, OSError) as exc:
            raise BackendError(
                f"{what}: cannot reach the Kubernetes API server at {self.host} ({self.where}): {exc}. Check that "
                f"the cluster is up and that {self.backend}.kubecfg_context names the right one."
            ) from None

    def describe(self, what: str, exc: Any) -> str:
        """The message of an API error: the server's own message, and for a refusal the Role to apply."""
        status = getattr(exc, "status", None)
        message = api_message(exc)
        if status == 401:
            return (f"{what}: the Kubernetes API server at {self.host} refused the credentials of {self.where} "
                    f"(401 Unauthorized: {message}). Renew them (e.g. log in to the cluster again).")
        if status == 403:
            return (f"{what} was refused by the cluster's RBAC: {message}. Grant the account Lithops uses this "
                    f"Role in namespace {self.namespace} (and a RoleBinding to it), as docs/backends/kubernetes.md "
                    f"shows:\n{role_manifest(self.backend, self.namespace)}")
        missing = re.match(r'namespaces "([^"]+)" not found', message)
        if status == 404 and missing:
            return (f"{what}: {message}. Create the namespace ('kubectl create namespace {missing[1]}') or set "
                    f"{self.backend}.namespace to an existing one.")
        return f"{what} failed: {status} {getattr(exc, 'reason', '')}: {message}"


def api_message(exc: Any) -> str:
    """The ``message`` of the Kubernetes Status an :class:`ApiException` carries (its body otherwise)."""
    body = getattr(exc, "body", None)
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return str(body or exc)
    return str(data.get("message") or body) if isinstance(data, dict) else str(body)


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` is the client's 404."""
    return getattr(exc, "status", None) == 404


def worker_processes(section: Mapping[str, Any]) -> int:
    """Calls one pod runs at once: ``worker_processes``, or one per CPU of the pod with AUTO."""
    value = section["worker_processes"]
    return max(1, int(-(-float(section["runtime_cpu"]) // 1))) if value == "AUTO" else int(value)


def resources(section: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Requests and limits (equal: a Guaranteed pod) of ``runtime_cpu`` and ``runtime_memory``."""
    amount = {"cpu": f"{round(float(section['runtime_cpu']) * 1000)}m",
              "memory": f"{int(section['runtime_memory'])}Mi"}
    return {"requests": dict(amount), "limits": dict(amount)}


def worker_env(section: Mapping[str, Any]) -> dict[str, str]:
    """The workers' environment: the section's ``env_vars`` and the runtime timeout."""
    env = {str(k): str(v) for k, v in (section.get("env_vars") or {}).items()}
    env["LITHOPS_RUNTIME_TIMEOUT"] = str(section["runtime_timeout"])
    return env
