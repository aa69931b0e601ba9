"""A local Kubernetes API server for tests, at the HTTP level on 127.0.0.1 (no real one can be installed here).

:class:`FakeKubernetes` serves what the backends use (``batch/v1`` Jobs, Pods and their logs, Events, Nodes,
Services, and ``serving.knative.dev/v1`` Services), answers errors with Kubernetes' ``Status`` object, and refuses
what a real API server refuses: missing and malformed fields, a Job's immutable ``spec.template``, unsupported
values, a token it does not know (401), a verb RBAC denies (403, with the real message).

It also plays the cluster:

- the Job controller runs each Job's indexed pods as local processes, with the container's command on a local
  Python (the image is looked up in ``images``) and the environment Kubernetes gives them (``JOB_COMPLETION_INDEX``,
  ``HOSTNAME``, the container's ``env`` with downward API ``fieldRef`` values resolved). It honours ``parallelism``,
  ``completions``, ``backoffLimit``, ``backoffLimitPerIndex``, the pod's ``activeDeadlineSeconds`` and deletion with
  its propagation policy (the API's default for Jobs orphans their pods, as a real server does);
- an image not in ``images`` leaves the pod waiting in ``ErrImagePull``, then ``ImagePullBackOff``; a pod whose
  ``kubernetes.io/arch`` node selector the node does not match stays Pending, ``Unschedulable``;
- :meth:`kill_pod`, :meth:`oom_kill` and :meth:`evict` stop a pod as the kubelet reports it (``Error`` with the
  exit code, ``OOMKilled``, ``Evicted``);
- Pod Security admission (the namespace's ``pod-security.kubernetes.io/enforce`` label) and a pod count quota
  refuse pods with the ``FailedCreate`` events a Job controller records;
- each Knative Service runs the container's command as a local process listening on ``$PORT``, and an ingress
  (the ``kourier`` Service of ``kourier-system``, a LoadBalancer on 127.0.0.1) routes requests to it by ``Host``.

:meth:`write_kubeconfig` writes a kubeconfig that points at the server, with a bearer token it checks.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lithops.backends.helpers import request_body
from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, FakeService
from lithops.testing.processes import free_port

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
#: fieldPaths the downward API gives to environment variables.
_FIELD_PATHS = re.compile(r"metadata\.(name|namespace|uid)|metadata\.(labels|annotations)\['[^']+'\]|"
                          r"spec\.(nodeName|serviceAccountName)|status\.(hostIP|hostIPs|podIP|podIPs)")
#: Capabilities the "baseline" Pod Security Standard lets a container add.
_BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                  "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
#: Knative's default max-revision-timeout-seconds.
KNATIVE_MAX_TIMEOUT = 600
NODE_NAME = "fake-node-1"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invalid(kind: str, name: str, problems: list[str]) -> ApiError:
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: ' + ", ".join(problems))


def parse_selector(selector: str) -> list[tuple[str, str, set[str]]]:
    """A label selector as ``(key, operator, values)`` terms (``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``)."""
    terms: list[tuple[str, str, set[str]]] = []
    for part in re.findall(r"[^,(]+(?:\([^)]*\))?", selector or ""):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if match:
            terms.append((match[1], match[2], {v.strip() for v in match[3].split(",") if v.strip()}))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            terms.append((key.strip(), "!=", {value.strip()}))
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            terms.append((key.strip(), "=", {value.strip()}))
        elif part.startswith("!"):
            terms.append((part[1:].strip(), "!", set()))
        else:
            terms.append((part, "exists", set()))
    return terms


def matches(labels: Mapping[str, str], selector: str) -> bool:
    """Whether ``labels`` match a label selector."""
    for key, op, values in parse_selector(selector):
        value = labels.get(key)
        if op in ("=", "in") and value not in values:
            return False
        if op in ("!=", "notin") and value in values:
            return False
        if op == "exists" and value is None:
            return False
        if op == "!" and value is not None:
            return False
    return True


class _Pod:
    """A pod the fake runs: its object and its local process."""

    def __init__(self, obj: dict[str, Any], folder: str) -> None:
        self.obj = obj
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.kill_reason: tuple[str, str] | None = None  # (reason, message) the kubelet will report
        self.pull_started: float | None = None
        self.counted = False  # the Job controller has counted its end
        self.port: int | None = None  # a Knative revision's port

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def log_path(self) -> str:
        return os.path.join(self.folder, "log.txt")


class FakeKubernetes(FakeService):
    """A Kubernetes API server and cluster on this machine (see the module documentation).

    Args:
        images: image -> Python interpreter that runs its containers' ``python3`` commands. Other images
            cannot be pulled.
        namespaces: namespace -> its labels (``pod-security.kubernetes.io/enforce`` is honoured).
        token: the bearer token requests must carry.
        arch: the node's architecture (``kubernetes.io/arch``).
        version: the ``gitVersion`` the server reports.
    """

    def __init__(self, images: Mapping[str, str], namespaces: Mapping[str, Mapping[str, str]] | None = None,
                 token: str = "lithops-test-token", arch: str = "amd64", version: str = "v1.33.1") -> None:
        super().__init__()
        self.images = dict(images)
        self.token = token
        self.arch = arch
        self.version = version
        self.namespaces: dict[str, dict[str, str]] = {k: dict(v) for k, v in (namespaces or {"default": {}}).items()}
        self.namespaces.setdefault("kourier-system", {})
        #: (verb, resource, namespace) triples RBAC refuses; resource as in "jobs.batch" or "pods".
        self.denied: set[tuple[str, str, str]] = set()
        #: Most pods a namespace may hold at once (a ResourceQuota on ``pods``); None: no quota.
        self.pod_quota: dict[str, int] = {}
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], _Pod] = {}
        self.events: list[dict[str, Any]] = []
        self.revisions: dict[tuple[str, str], _Pod] = {}
        self._version = 0
        self._root = tempfile.mkdtemp(prefix="fake-k8s-")
        self._stop = threading.Event()
        self._ingress: ThreadingHTTPServer | None = None
        self._create_failures: dict[tuple[str, str], float] = {}
        self._job_state: dict[tuple[str, str], dict[str, Any]] = {}
        p = r"(?P<ns>[^/]+)"
        for method, pattern, handler in [
            ("GET", r"/version/?", self.get_version),
            ("GET", r"/api/v1/nodes", self.list_nodes),
            ("GET", rf"/api/v1/namespaces/{p}/pods", self.list_pods),
            ("GET", rf"/api/v1/namespaces/{p}/pods/(?P<name>[^/]+)", self.get_pod),
            ("DELETE", rf"/api/v1/namespaces/{p}/pods/(?P<name>[^/]+)", self.delete_pod),
            ("GET", rf"/api/v1/namespaces/{p}/pods/(?P<name>[^/]+)/log", self.pod_log),
            ("GET", rf"/api/v1/namespaces/{p}/events", self.list_events),
            ("GET", rf"/api/v1/namespaces/{p}/services/(?P<name>[^/]+)", self.get_service),
            ("POST", rf"/apis/batch/v1/namespaces/{p}/jobs", self.create_job),
            ("GET", rf"/apis/batch/v1/namespaces/{p}/jobs", self.list_jobs),
            ("DELETE", rf"/apis/batch/v1/namespaces/{p}/jobs", self.delete_jobs),
            ("GET", rf"/apis/batch/v1/namespaces/{p}/jobs/(?P<name>[^/]+)", self.get_job),
            ("PUT", rf"/apis/batch/v1/namespaces/{p}/jobs/(?P<name>[^/]+)", self.replace_job),
            ("DELETE", rf"/apis/batch/v1/namespaces/{p}/jobs/(?P<name>[^/]+)", self.delete_job),
            ("POST", rf"/apis/serving.knative.dev/v1/namespaces/{p}/services", self.create_ksvc),
            ("GET", rf"/apis/serving.knative.dev/v1/namespaces/{p}/services", self.list_ksvc),
            ("GET", rf"/apis/serving.knative.dev/v1/namespaces/{p}/services/(?P<name>[^/]+)", self.get_ksvc),
            ("PUT", rf"/apis/serving.knative.dev/v1/namespaces/{p}/services/(?P<name>[^/]+)", self.replace_ksvc),
            ("DELETE", rf"/apis/serving.knative.dev/v1/namespaces/{p}/services/(?P<name>[^/]+)", self.delete_ksvc),
        ]:
            self.route(method, pattern, handler)

    # -- the HTTP layer ----------------------------------------------------------------------------------------
    def error_body(self, status: int, code: str, message: str) -> Any:
        """Kubernetes' ``Status`` object."""
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                "reason": code, "code": status}

    def authorize(self, request: FakeRequest) -> None:
        """401 without the token; 403 for what :attr:`denied` lists, worded as the RBAC authorizer words it."""
        if request.header("authorization") != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if request.path.rstrip("/") == "/version":
            return
        match = re.match(r"/apis?/(?:(?P<group>[^/]+)/)?v1/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)"
                         r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?", request.path)
        if match is None:
            return
        group = "" if match["group"] in (None, "v1") else match["group"]
        resource = match["res"] + (f"/{match['sub']}" if match["sub"] else "")
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "GET": "get" if match["name"] else "list",
                "DELETE": "delete" if match["name"] else "deletecollection"}[request.method]
        full = f"{resource}.{group}" if group else resource
        if (verb, full, match["ns"]) in self.denied:
            raise ApiError(403, "Forbidden", (
                f'{full} is forbidden: User "system:serviceaccount:{match["ns"]}:lithops" cannot {verb} resource '
                f'"{resource}" in API group "{group}" in the namespace "{match["ns"]}"'))

    def _namespace(self, request: FakeRequest) -> str:
        ns = request.params["ns"]
        if ns not in self.namespaces and request.method in ("POST", "PUT", "PATCH"):
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found')
        return ns  # reading from a namespace that does not exist finds nothing, as on a real server

    def _new_meta(self, obj: dict[str, Any], kind: str, ns: str) -> str:
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
        problems = []
        if not name:
            problems.append("metadata.name: Required value: name or generateName is required")
        elif len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            problems.append(f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain must consist "
                            f"of lower case alphanumeric characters, '-' or '.'")
        if meta.get("namespace") not in (None, ns):
            problems.append(f"metadata.namespace: Invalid value: {meta['namespace']!r}: does not match the "
                            f"namespace of the request")
        problems += _label_problems(meta.get("labels") or {}, "metadata.labels")
        if problems:
            raise _invalid(kind, str(name or ""), problems)
        with self.lock:
            if (kind, ns, name) in self.objects:
                raise ApiError(409, "AlreadyExists", f'{kind.lower()}s "{name}" already exists')
            self._version += 1
            meta.update(name=name, namespace=ns, uid=str(uuid.uuid4()), resourceVersion=str(self._version),
                        creationTimestamp=_now(), generation=1)
        return str(name)

    def _get(self, kind: str, request: FakeRequest, plural: str) -> dict[str, Any]:
        key = (kind, self._namespace(request), request.params["name"])
        with self.lock:
            obj = self.objects.get(key)
            if obj is None:
                raise ApiError(404, "NotFound", f'{plural} "{request.params["name"]}" not found')
            return _copy(obj)  # the controller changes the stored one

    def _list(self, kind: str, request: FakeRequest, api_version: str) -> FakeResponse:
        ns = self._namespace(request)
        selector = (request.query.get("labelSelector") or [""])[0]
        with self.lock:
            items = _copy([o for (k, n, _), o in self.objects.items()
                           if k == kind and n == ns and matches(o["metadata"].get("labels") or {}, selector)])
            version = str(self._version)
        return 200, {"kind": f"{kind}List", "apiVersion": api_version, "metadata": {"resourceVersion": version},
                     "items": items}

    def get_version(self, request: FakeRequest) -> FakeResponse:
        """The server's version."""
        major, minor = self.version.lstrip("v").split(".")[:2]
        return 200, {"major": major, "minor": minor, "gitVersion": self.version, "gitCommit": "0" * 40,
                     "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0",
                     "compiler": "gc", "platform": f"linux/{self.arch}"}

    def list_nodes(self, request: FakeRequest) -> FakeResponse:
        """One ready node of :attr:`arch`."""
        node = {"metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/arch": self.arch,
                                                           "kubernetes.io/os": "linux"}},
                "status": {"nodeInfo": {"architecture": self.arch, "operatingSystem": "linux",
                                        "kubeletVersion": self.version, "containerRuntimeVersion": "containerd://2.0",
                                        "kernelVersion": os.uname().release, "osImage": "fake",
                                        "kubeProxyVersion": self.version, "machineID": "fake", "systemUUID": "fake",
                                        "bootID": "fake"},
                           "conditions": [{"type": "Ready", "status": "True"}]}}
        return 200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [node]}

    # -- Jobs --------------------------------------------------------------------------------------------------
    def create_job(self, request: FakeRequest) -> FakeResponse:
        """Validate and store a Job; the controller starts its pods."""
        ns = self._namespace(request)
        job = request.json()
        if not isinstance(job, dict) or job.get("kind") != "Job" or job.get("apiVersion") != "batch/v1":
            raise ApiError(400, "BadRequest", "the body must be a batch/v1 Job")
        name = str((job.get("metadata") or {}).get("name") or "")
        problems = _job_problems(job)
        if name and len(name) > 63:
            problems.append(f"metadata.name: Invalid value: {name!r}: must be no more than 63 characters")
        if problems:
            raise _invalid("Job", name, problems)
        name = self._new_meta(job, "Job", ns)
        spec = job["spec"]
        uid = job["metadata"]["uid"]
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("completionMode", "NonIndexed")
        if "backoffLimitPerIndex" in spec:
            spec.setdefault("backoffLimit", 2147483647)
        else:
            spec.setdefault("backoffLimit", 6)
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template_labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
        template_labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                                "controller-uid": uid, "job-name": name})
        job["status"] = {"active": 0, "succeeded": 0, "failed": 0, "startTime": _now()}
        with self.lock:
            self.objects[("Job", ns, name)] = job
            self._job_state[(ns, name)] = {"index_failures": {}, "done": set(), "failed": set(), "finished": None}
            return 201, _copy(job)

    def list_jobs(self, request: FakeRequest) -> FakeResponse:
        """Jobs matching ``labelSelector``."""
        return self._list("Job", request, "batch/v1")

    def get_job(self, request: FakeRequest) -> FakeResponse:
        """One Job."""
        return 200, (self._get("Job", request, "jobs.batch"))

    def replace_job(self, request: FakeRequest) -> FakeResponse:
        """Replace a Job: ``spec.template``, ``spec.selector`` and ``spec.completionMode`` are immutable."""
        job = self._get("Job", request, "jobs.batch")
        new = request.json()
        spec, new_spec = job["spec"], (new or {}).get("spec") or {}
        problems = [f"spec.{field}: Invalid value: field is immutable"
                    for field in ("template", "completionMode") if field in new_spec
                    and _copy(new_spec[field]) != _copy(spec[field])]
        if problems:
            raise _invalid("Job", request.params["name"], problems)
        with self.lock:
            stored = self.objects[("Job", request.params["ns"], request.params["name"])]
            for field in ("parallelism", "suspend", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
                if field in new_spec:
                    stored["spec"][field] = new_spec[field]
            labels = (new.get("metadata") or {}).get("labels")
            if labels is not None:
                stored["metadata"]["labels"] = labels
            self._version += 1
            stored["metadata"]["resourceVersion"] = str(self._version)
            return 200, _copy(stored)

    def _propagation(self, request: FakeRequest) -> str:
        body = request.json() if request.body else {}
        policy = (body or {}).get("propagationPolicy") or (request.query.get("propagationPolicy") or [""])[0]
        if not policy and (body or {}).get("orphanDependents") is False:
            policy = "Background"
        if policy not in ("", "Orphan", "Background", "Foreground"):
            raise ApiError(400, "BadRequest", f'unsupported propagationPolicy "{policy}"')
        return policy or "Orphan"  # batch/v1 Jobs orphan their pods by default

    def _remove_job(self, ns: str, name: str, policy: str) -> dict[str, Any] | None:
        with self.lock:
            job = self.objects.pop(("Job", ns, name), None)
            self._job_state.pop((ns, name), None)
            if job is None:
                return None
            pods = [p for (n, _), p in self.pods.items()
                    if n == ns and p.obj["metadata"]["labels"].get("batch.kubernetes.io/job-name") == name]
        for pod in pods:
            if policy == "Orphan":
                pod.obj["metadata"].pop("ownerReferences", None)
            else:
                self._delete_pod(ns, pod.name)
        return job

    def delete_job(self, request: FakeRequest) -> FakeResponse:
        """Delete a Job; its pods too with propagationPolicy Background or Foreground."""
        ns = self._namespace(request)
        job = self._remove_job(ns, request.params["name"], self._propagation(request))
        if job is None:
            raise ApiError(404, "NotFound", f'jobs.batch "{request.params["name"]}" not found')
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": request.params["name"], "group": "batch", "kind": "jobs",
                                 "uid": job["metadata"]["uid"]}}

    def delete_jobs(self, request: FakeRequest) -> FakeResponse:
        """Delete the Jobs matching ``labelSelector``."""
        ns = self._namespace(request)
        policy = self._propagation(request)
        selector = (request.query.get("labelSelector") or [""])[0]
        with self.lock:
            names = [n for (k, s, n), o in self.objects.items()
                     if k == "Job" and s == ns and matches(o["metadata"].get("labels") or {}, selector)]
        removed = [self._remove_job(ns, n, policy) for n in names]
        return 200, {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {},
                     "items": _copy([j for j in removed if j])}

    # -- Pods --------------------------------------------------------------------------------------------------
    def list_pods(self, request: FakeRequest) -> FakeResponse:
        """Pods matching ``labelSelector``."""
        ns = self._namespace(request)
        selector = (request.query.get("labelSelector") or [""])[0]
        with self.lock:
            items = [json.loads(json.dumps(p.obj)) for (n, _), p in self.pods.items()
                     if n == ns and matches(p.obj["metadata"].get("labels") or {}, selector)]
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": str(self._version)},
                     "items": items}

    def _pod(self, request: FakeRequest) -> _Pod:
        ns = self._namespace(request)
        with self.lock:
            pod = self.pods.get((ns, request.params["name"]))
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{request.params["name"]}" not found')
        return pod

    def get_pod(self, request: FakeRequest) -> FakeResponse:
        """One pod."""
        pod = self._pod(request)
        with self.lock:
            return 200, _copy(pod.obj)

    def pod_log(self, request: FakeRequest) -> FakeResponse:
        """What the pod's container wrote (stdout and stderr)."""
        pod = self._pod(request)
        if pod.proc is None:
            raise ApiError(400, "BadRequest", f'container "{pod.obj["spec"]["containers"][0]["name"]}" in pod '
                                              f'"{pod.name}" is waiting to start: trying and failing to pull image')
        with open(pod.log_path, "rb") as f:
            return 200, f.read(), {"Content-Type": "text/plain"}

    def delete_pod(self, request: FakeRequest) -> FakeResponse:
        """Delete a pod (its process is killed)."""
        pod = self._pod(request)
        self._delete_pod(request.params["ns"], pod.name)
        with self.lock:
            return 200, _copy(pod.obj)

    def _delete_pod(self, ns: str, name: str) -> None:
        with self.lock:
            pod = self.pods.pop((ns, name), None)
        if pod is not None:
            _kill(pod)

    def list_events(self, request: FakeRequest) -> FakeResponse:
        """Events, filtered by ``fieldSelector`` ``involvedObject.name=...``."""
        ns = self._namespace(request)
        fields = dict(term.split("=", 1) for term in (request.query.get("fieldSelector") or [""])[0].split(",")
                      if "=" in term)
        with self.lock:
            items = _copy([e for e in self.events if e["metadata"]["namespace"] == ns and all(
                e["involvedObject"].get(k.split(".", 1)[1]) == v for k, v in fields.items()
                if k.startswith("involvedObject."))])
        return 200, {"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items}

    def _event(self, ns: str, kind: str, name: str, reason: str, message: str) -> None:
        with self.lock:
            for event in self.events:
                inv = event["involvedObject"]
                if (inv["namespace"], inv["kind"], inv["name"], event["reason"]) == (ns, kind, name, reason):
                    event["count"] += 1
                    event["message"] = message
                    event["lastTimestamp"] = _now()
                    return
            self.events.append({
                "metadata": {"name": f"{name}.{uuid.uuid4().hex[:12]}", "namespace": ns},
                "involvedObject": {"kind": kind, "name": name, "namespace": ns}, "reason": reason,
                "message": message, "type": "Warning", "count": 1, "firstTimestamp": _now(), "lastTimestamp": _now()})

    # -- core Services (the Knative ingress) -------------------------------------------------------------------
    def get_service(self, request: FakeRequest) -> FakeResponse:
        """A core Service: the networking layer's LoadBalancer."""
        obj = self._get("Service", request, "services")
        return 200, obj

    # -- Knative Services --------------------------------------------------------------------------------------
    def create_ksvc(self, request: FakeRequest) -> FakeResponse:
        """Validate and store a Knative Service, then start its revision."""
        ns = self._namespace(request)
        svc = request.json()
        if not isinstance(svc, dict) or svc.get("apiVersion") != "serving.knative.dev/v1" or \
                svc.get("kind") != "Service":
            raise ApiError(400, "BadRequest", "the body must be a serving.knative.dev/v1 Service")
        name = str((svc.get("metadata") or {}).get("name") or "")
        problems = _ksvc_problems(svc)
        if name and (len(name) > 63 or not _DNS_LABEL.fullmatch(name)):
            problems.append(f"metadata.name: Invalid value: {name!r}: must be a DNS-1035 label of at most 63 "
                            f"characters")
        if problems:
            raise ApiError(400, "BadRequest", "admission webhook \"validation.webhook.serving.knative.dev\" denied "
                                              "the request: validation failed: " + "; ".join(problems))
        name = self._new_meta(svc, "KService", ns)
        svc["status"] = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "Unknown",
                                                                  "reason": "RevisionMissing"}]}
        with self.lock:
            self.objects[("KService", ns, name)] = svc
        self._start_revision(ns, svc)
        with self.lock:
            return 201, _copy(svc)

    def list_ksvc(self, request: FakeRequest) -> FakeResponse:
        """Knative Services matching ``labelSelector``."""
        return self._list("KService", request, "serving.knative.dev/v1")

    def get_ksvc(self, request: FakeRequest) -> FakeResponse:
        """One Knative Service."""
        return 200, self._get("KService", request, "services.serving.knative.dev")

    def replace_ksvc(self, request: FakeRequest) -> FakeResponse:
        """Replace a Knative Service (a new revision); ``metadata.resourceVersion`` must be the current one."""
        old = self._get("KService", request, "services.serving.knative.dev")
        ns, name = request.params["ns"], request.params["name"]
        svc = request.json()
        problems = _ksvc_problems(svc)
        if problems:
            raise ApiError(400, "BadRequest", "validation failed: " + "; ".join(problems))
        meta = svc.get("metadata") or {}
        if meta.get("name") != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        if meta.get("resourceVersion") != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on services.serving.knative.dev "{name}": '
                                            f'the object has been modified; please apply your changes to the latest '
                                            f'version and try again')
        with self.lock:
            self._version += 1
            svc["metadata"] = {**old["metadata"], "labels": meta.get("labels") or {},
                               "annotations": meta.get("annotations") or {}, "resourceVersion": str(self._version),
                               "generation": old["metadata"]["generation"] + 1}
            svc["status"] = {"observedGeneration": svc["metadata"]["generation"],
                             "conditions": [{"type": "Ready", "status": "Unknown", "reason": "RevisionMissing"}]}
            self.objects[("KService", ns, name)] = svc
        self._stop_revision(ns, name)
        self._start_revision(ns, svc)
        with self.lock:
            return 200, _copy(svc)

    def delete_ksvc(self, request: FakeRequest) -> FakeResponse:
        """Delete a Knative Service and its revision."""
        svc = self._get("KService", request, "services.serving.knative.dev")
        with self.lock:
            self.objects.pop(("KService", request.params["ns"], request.params["name"]), None)
        self._stop_revision(request.params["ns"], request.params["name"])
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": svc["metadata"]["name"], "uid": svc["metadata"]["uid"]}}

    def _start_revision(self, ns: str, svc: dict[str, Any]) -> None:
        with self.lock:
            self._start_revision_locked(ns, svc)

    def _start_revision_locked(self, ns: str, svc: dict[str, Any]) -> None:
        name = svc["metadata"]["name"]
        container = svc["spec"]["template"]["spec"]["containers"][0]
        generation = svc["metadata"]["generation"]
        revision = f"{name}-{generation:05d}"
        status = svc["status"]
        python = self.images.get(container["image"])
        if python is None:
            status["conditions"] = [{"type": "Ready", "status": "False", "reason": "RevisionMissing",
                                     "message": f'Revision "{revision}" failed with message: Unable to fetch image '
                                                f'"{container["image"]}": failed to resolve image to digest: '
                                                f'GET https://registry/v2/: unexpected status code 401 Unauthorized.'}]
            return
        port = free_port()
        env = {"PORT": str(port), "K_SERVICE": name, "K_REVISION": revision, "K_CONFIGURATION": name,
               "LITHOPS_HTTP_HOST": "127.0.0.1"}
        obj = {"metadata": {"name": f"{revision}-deployment-{uuid.uuid4().hex[:5]}", "namespace": ns, "labels": {},
                            "annotations": {}, "uid": str(uuid.uuid4())},
               "spec": {"containers": [container], "nodeName": NODE_NAME}, "status": {"phase": "Pending"}}
        pod = _Pod(obj, tempfile.mkdtemp(prefix=f"{revision}-", dir=self._root))
        error = self._spawn(pod, python, container, env)
        with self.lock:
            self.revisions[(ns, name)] = pod
        if error:
            status["conditions"] = [{"type": "Ready", "status": "False", "reason": "ContainerMissing",
                                     "message": error}]
            return
        threading.Thread(target=self._await_ready, args=(ns, svc, pod, port, revision), daemon=True).start()

    def _await_ready(self, ns: str, svc: dict[str, Any], pod: _Pod, port: int, revision: str) -> None:
        name = svc["metadata"]["name"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self._stop.is_set():
            if pod.proc is None or pod.proc.poll() is not None:
                with open(pod.log_path, "rb") as f:
                    tail = f.read()[-500:].decode(errors="replace")
                with self.lock:
                    svc["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "ExitCode1",
                                                    "message": f"Container failed with: {tail}"}]
                return
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        with self.lock:
            pod.port = port
            svc["status"].update({
                "url": f"http://{name}.{ns}.example.com", "latestReadyRevisionName": revision,
                "latestCreatedRevisionName": revision, "address": {"url": f"http://{name}.{ns}.svc.cluster.local"},
                "conditions": [{"type": t, "status": "True", "lastTransitionTime": _now()}
                               for t in ("ConfigurationsReady", "Ready", "RoutesReady")]})

    def _stop_revision(self, ns: str, name: str) -> None:
        with self.lock:
            pod = self.revisions.pop((ns, name), None)
        if pod is not None:
            _kill(pod)

    def kill_revision(self, ns: str, name: str) -> None:
        """Kill the process serving a Knative Service (as a node failure would); Knative starts a new one."""
        with self.lock:
            svc = self.objects.get(("KService", ns, name))
            pod = self.revisions.get((ns, name))
        if pod is not None:
            _kill(pod)
        if svc is not None:
            self._start_revision(ns, svc)

    # -- the ingress -------------------------------------------------------------------------------------------
    def _start_ingress(self) -> None:
        fake = self

        class Ingress(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _proxy(self) -> None:
                body = request_body(self.headers, self.rfile)
                data = body if isinstance(body, bytes) else body.read()
                host = (self.headers.get("Host") or "").split(":")[0]
                target = fake._route(host)
                if target is None:
                    self._answer(404, b"")
                    return
                conn = http.client.HTTPConnection("127.0.0.1", target, timeout=KNATIVE_MAX_TIMEOUT)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    conn.request(self.command, self.path, body=data, headers=headers)
                    answer = conn.getresponse()
                    self._answer(answer.status, answer.read(), answer.getheader("Content-Type") or "text/plain")
                except (OSError, http.client.HTTPException) as exc:
                    self._answer(502, f"upstream connect error or disconnect/reset before headers: {exc}".encode())
                finally:
                    conn.close()

            def _answer(self, status: int, data: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _proxy

        self._ingress = ThreadingHTTPServer(("127.0.0.1", 0), Ingress)
        self._ingress.daemon_threads = True
        threading.Thread(target=self._ingress.serve_forever, name="fake-ingress", daemon=True).start()
        port = self._ingress.server_address[1]
        self.objects[("Service", "kourier-system", "kourier")] = {
            "kind": "Service", "apiVersion": "v1",
            "metadata": {"name": "kourier", "namespace": "kourier-system", "uid": str(uuid.uuid4()),
                         "creationTimestamp": _now(), "resourceVersion": "1"},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "http2", "port": port, "protocol": "TCP",
                                                        "targetPort": 8080, "nodePort": 31080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}},
        }

    def _route(self, host: str) -> int | None:
        """The port of the instance serving ``host``; like Knative's activator, wait (up to a minute) while a new
        instance starts.
        """
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self._stop.is_set():
            with self.lock:
                found = [(ns, name) for (kind, ns, name), svc in self.objects.items()
                         if kind == "KService" and ((svc.get("status") or {}).get("url") or "").split("://")[-1]
                         == host]
                pod = self.revisions.get(found[0]) if found else None
            if not found:
                return None
            if pod is not None and pod.port is not None:
                return pod.port
            time.sleep(0.05)
        return None

    # -- the cluster: Job controller and kubelet ---------------------------------------------------------------
    def start(self) -> FakeKubernetes:
        """Serve the API, the ingress, and run the controller."""
        super().start()
        self._start_ingress()
        threading.Thread(target=self._control_loop, name="fake-k8s-controller", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and kill every process the fake started."""
        self._stop.set()
        super().stop()
        if self._ingress is not None:
            self._ingress.shutdown()
            self._ingress.server_close()
        with self.lock:
            pods = list(self.pods.values()) + list(self.revisions.values())
            self.pods.clear()
            self.revisions.clear()
        for pod in pods:
            _kill(pod)
        shutil.rmtree(self._root, ignore_errors=True)

    def write_kubeconfig(self, path: str, context: str = "fake", namespace: str | None = None) -> str:
        """Write a kubeconfig whose current context ``context`` points at this server; return ``path``."""
        ctx: dict[str, Any] = {"cluster": "fake-cluster", "user": "lithops"}
        if namespace:
            ctx["namespace"] = namespace
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": context,
               "clusters": [{"name": "fake-cluster", "cluster": {"server": self.url}}],
               "users": [{"name": "lithops", "user": {"token": self.token}}],
               "contexts": [{"name": context, "context": ctx}]}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)  # JSON is YAML
        return path

    def _control_loop(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self._reconcile()
            except Exception:  # keep the cluster running; a test sees the effect
                import traceback

                traceback.print_exc()

    def _reconcile(self) -> None:
        with self.lock:  # API readers copy objects under the lock: they never see one half changed
            jobs = [(ns, name, job) for (kind, ns, name), job in self.objects.items() if kind == "Job"]
            for (ns, _), pod in list(self.pods.items()):
                self._kubelet(ns, pod)
            for ns, name, job in jobs:
                if ("Job", ns, name) in self.objects:
                    self._job_controller(ns, name, job)

    def _kubelet(self, ns: str, pod: _Pod) -> None:
        status = pod.obj["status"]
        if status["phase"] in ("Succeeded", "Failed"):
            return
        container = pod.obj["spec"]["containers"][0]
        if pod.proc is None:
            selector = pod.obj["spec"].get("nodeSelector") or {}
            if selector.get("kubernetes.io/arch", self.arch) != self.arch:  # the scheduler finds no node
                pod.obj["spec"].pop("nodeName", None)
                status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                         "lastTransitionTime": _now(),
                                         "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node "
                                                    "affinity/selector. preemption: 0/1 nodes are available: 1 "
                                                    "Preemption is not helpful for scheduling."}]
                return
            if pod.pull_started is None:
                pod.pull_started = time.monotonic()
            python = self.images.get(container["image"])
            if python is None:
                waited = time.monotonic() - pod.pull_started
                reason = "ErrImagePull" if waited < 0.3 else "ImagePullBackOff"
                message = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{container["image"]}"'
                           if reason == "ErrImagePull" else f'Back-off pulling image "{container["image"]}"')
                status["containerStatuses"] = [{"name": container["name"], "image": container["image"],
                                                "imageID": "", "ready": False, "restartCount": 0,
                                                "state": {"waiting": {"reason": reason, "message": message}}}]
                return
            env = {"HOSTNAME": pod.name, "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                   "KUBERNETES_SERVICE_PORT": self.url.rsplit(":", 1)[1]}
            index = pod.obj["metadata"].get("annotations", {}).get(INDEX_KEY)
            if index is not None:
                env["JOB_COMPLETION_INDEX"] = index
            error = self._spawn(pod, python, container, env)
            if error:
                self._finish(pod, 128, "StartError", error)
                return
            status.update(phase="Running", startTime=_now(), podIP="127.0.0.1", hostIP="127.0.0.1")
            status["containerStatuses"] = [{"name": container["name"], "image": container["image"],
                                            "imageID": f"{container['image']}@sha256:{'0' * 64}", "ready": True,
                                            "restartCount": 0, "started": True,
                                            "state": {"running": {"startedAt": _now()}}}]
            return
        deadline = pod.obj["spec"].get("activeDeadlineSeconds")
        if deadline is not None and time.monotonic() - pod.started > deadline and pod.kill_reason is None:
            pod.kill_reason = ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
            _kill(pod)
        code = pod.proc.poll()
        if code is None:
            return
        if pod.kill_reason is not None:
            reason, message = pod.kill_reason
        else:
            reason, message = ("Completed" if code == 0 else "Error"), ""
        self._finish(pod, 128 - code if code < 0 else code, reason, message)

    def _finish(self, pod: _Pod, exit_code: int, reason: str, message: str) -> None:
        status = pod.obj["status"]
        container = pod.obj["spec"]["containers"][0]
        terminated = {"exitCode": exit_code, "reason": reason if reason in ("Completed", "Error", "OOMKilled",
                                                                            "StartError") else "Error",
                      "startedAt": status.get("startTime") or _now(), "finishedAt": _now()}
        if message and reason in ("OOMKilled", "StartError"):
            terminated["message"] = message
        status["containerStatuses"] = [{"name": container["name"], "image": container["image"], "imageID": "",
                                        "ready": False, "restartCount": 0, "started": False,
                                        "state": {"terminated": terminated}}]
        status["phase"] = "Succeeded" if exit_code == 0 and reason == "Completed" else "Failed"
        if reason in ("Evicted", "DeadlineExceeded"):
            status["reason"], status["message"] = reason, message

    def _spawn(self, pod: _Pod, python: str, container: Mapping[str, Any], env: dict[str, str]) -> str | None:
        """Start the container's command on ``python``; return an error message when it cannot start."""
        command = list(container.get("command") or []) + list(container.get("args") or [])
        if not command or os.path.basename(command[0]) not in ("python", "python3"):
            return (f'failed to create containerd task: exec: "{command[0] if command else ""}": executable file '
                    f'not found in $PATH (the fake cluster runs python commands only)')
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": pod.folder, "PYTHONUNBUFFERED": "1",
                **env}
        for item in container.get("env") or []:
            if "value" in item:
                full[item["name"]] = str(item["value"])
            elif "valueFrom" in item:
                full[item["name"]] = self._field(pod, item["valueFrom"]["fieldRef"]["fieldPath"])
        log = open(pod.log_path, "wb")
        try:
            pod.proc = subprocess.Popen([python, *command[1:]], env=full, cwd=pod.folder, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        pod.started = time.monotonic()
        return None

    def _field(self, pod: _Pod, path: str) -> str:
        meta = pod.obj["metadata"]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if match:
            return str((meta.get(match[1]) or {}).get(match[2], ""))
        values = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"],
                  "metadata.uid": meta.get("uid", ""), "spec.nodeName": NODE_NAME,
                  "spec.serviceAccountName": pod.obj["spec"].get("serviceAccountName") or "default",
                  "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}
        return str(values.get(path, ""))

    def _job_controller(self, ns: str, name: str, job: dict[str, Any]) -> None:
        spec, status = job["spec"], job["status"]
        state = self._job_state[(ns, name)]
        if state["finished"] is not None:
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None and time.monotonic() - state["finished"] >= ttl:
                self._remove_job(ns, name, "Background")
            return
        with self.lock:
            mine = [p for (n, _), p in self.pods.items() if n == ns
                    and p.obj["metadata"].get("ownerReferences", [{}])[0].get("uid") == job["metadata"]["uid"]]
        indexed = spec["completionMode"] == "Indexed"
        active = 0
        for pod in mine:
            phase = pod.obj["status"]["phase"]
            index = int(pod.obj["metadata"]["annotations"].get(INDEX_KEY, 0))
            if pod.counted:
                continue
            if phase == "Succeeded":
                pod.counted = True
                state["done"].add(index if indexed else len(state["done"]))
                status["succeeded"] += 1
            elif phase == "Failed":
                pod.counted = True
                status["failed"] += 1
                failures = state["index_failures"]
                failures[index] = failures.get(index, 0) + 1
                per_index = spec.get("backoffLimitPerIndex")
                if per_index is not None and failures[index] > per_index:
                    state["failed"].add(index)
                elif per_index is None and status["failed"] > spec["backoffLimit"]:
                    self._conclude(ns, name, job, "Failed", "BackoffLimitExceeded",
                                   "Job has reached the specified backoff limit")
                    return
            else:
                active += 1
        status["active"] = active
        completions = int(spec["completions"])
        if indexed:
            status["completedIndexes"] = _ranges(state["done"])
            if state["failed"]:
                status["failedIndexes"] = _ranges(state["failed"])
        if len(state["done"]) + len(state["failed"]) >= completions and active == 0:
            if state["failed"]:
                self._conclude(ns, name, job, "Failed", "FailedIndexes", "Job has failed indexes")
            else:
                self._conclude(ns, name, job, "Complete", "", "")
            return
        if spec.get("suspend"):
            return
        busy = {int(p.obj["metadata"]["annotations"].get(INDEX_KEY, -1)) for p in mine
                if p.obj["status"]["phase"] not in ("Succeeded", "Failed")}
        todo = [i for i in range(completions) if i not in state["done"] and i not in state["failed"]
                and i not in busy] if indexed else list(range(max(0, completions - len(state["done"]) - active)))
        for index in todo[:max(0, int(spec["parallelism"]) - active)]:
            if not self._create_pod(ns, name, job, index if indexed else None):
                break

    def _conclude(self, ns: str, name: str, job: dict[str, Any], kind: str, reason: str, message: str) -> None:
        self._job_state[(ns, name)]["finished"] = time.monotonic()
        condition = {"type": kind, "status": "True", "lastProbeTime": _now(), "lastTransitionTime": _now()}
        if reason:
            condition.update(reason=reason, message=message)
        job["status"]["conditions"] = [condition]
        if kind == "Complete":
            job["status"]["completionTime"] = _now()
        if kind == "Failed":
            with self.lock:
                pods = [p for (n, _), p in self.pods.items() if n == ns and
                        p.obj["metadata"]["labels"].get("batch.kubernetes.io/job-name") == name]
            for pod in pods:
                if pod.obj["status"]["phase"] not in ("Succeeded", "Failed"):
                    self._delete_pod(ns, pod.name)

    def _create_pod(self, ns: str, job_name: str, job: dict[str, Any], index: int | None) -> bool:
        """Admit and create one pod of a Job; False (and a FailedCreate event) when admission refuses it."""
        template = json.loads(json.dumps(job["spec"]["template"]))
        pod_name = f"{job_name}-{'' if index is None else f'{index}-'}{uuid.uuid4().hex[:5]}"
        refusal = self._admission(ns, pod_name, template["spec"])
        if refusal:
            last = self._create_failures.get((ns, job_name), 0.0)
            if time.monotonic() - last > 0.5:
                self._create_failures[(ns, job_name)] = time.monotonic()
                self._event(ns, "Job", job_name, "FailedCreate", f"Error creating: {refusal}")
            return False
        labels = dict(template["metadata"].get("labels") or {})
        annotations = dict(template["metadata"].get("annotations") or {})
        if index is not None:
            labels[INDEX_KEY] = str(index)
            annotations[INDEX_KEY] = str(index)
        obj = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name, "namespace": ns, "uid": str(uuid.uuid4()), "labels": labels,
                            "annotations": annotations, "creationTimestamp": _now(),
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                                 "uid": job["metadata"]["uid"], "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": {**template["spec"], "nodeName": NODE_NAME}, "status": {"phase": "Pending"}}
        pod = _Pod(obj, tempfile.mkdtemp(prefix=f"{pod_name}-", dir=self._root))
        with self.lock:
            self.pods[(ns, pod_name)] = pod
        self._kubelet(ns, pod)
        return True

    def _admission(self, ns: str, pod_name: str, spec: Mapping[str, Any]) -> str | None:
        quota = self.pod_quota.get(ns)
        if quota is not None:
            with self.lock:
                used = sum(1 for (n, _), p in self.pods.items()
                           if n == ns and p.obj["status"]["phase"] not in ("Succeeded", "Failed"))
            if used >= quota:
                return (f'pods "{pod_name}" is forbidden: exceeded quota: lithops-quota, requested: pods=1, '
                        f'used: pods={used}, limited: pods={quota}')
        level = self.namespaces.get(ns, {}).get("pod-security.kubernetes.io/enforce", "privileged")
        violations = _pod_security(spec, level)
        if violations:
            return f'pods "{pod_name}" is forbidden: violates PodSecurity "{level}:latest": ' + ", ".join(violations)
        return None

    # -- faults the tests inject -------------------------------------------------------------------------------
    def job_pods(self, ns: str, job_name: str) -> list[_Pod]:
        """The pods of a Job, oldest first."""
        with self.lock:
            return [p for (n, _), p in self.pods.items()
                    if n == ns and p.obj["metadata"]["labels"].get("batch.kubernetes.io/job-name") == job_name]

    def kill_pod(self, ns: str, name: str) -> None:
        """Kill a pod's process (SIGKILL); the kubelet reports it as Error with exit code 137."""
        with self.lock:
            pod = self.pods[(ns, name)]
        _kill(pod)

    def oom_kill(self, ns: str, name: str) -> None:
        """Kill a pod as the out-of-memory killer does: ``OOMKilled``, exit code 137."""
        with self.lock:
            pod = self.pods[(ns, name)]
        pod.kill_reason = ("OOMKilled", "")
        _kill(pod)

    def evict(self, ns: str, name: str) -> None:
        """Evict a pod for node memory pressure."""
        with self.lock:
            pod = self.pods[(ns, name)]
        pod.kill_reason = ("Evicted", "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
                                      "90Mi.")
        _kill(pod)


def _kill(pod: _Pod) -> None:
    if pod.proc is not None and pod.proc.poll() is None:
        try:
            os.killpg(pod.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pod.proc.wait()


def _ranges(indexes: set[int]) -> str:
    """``{0, 1, 2, 5}`` as Kubernetes writes completed indexes: ``0-2,5``."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i != run[-1] + 1:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(i)
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _label_problems(labels: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for key, value in labels.items():
        name = str(key).rsplit("/", 1)[-1]
        if not name or len(name) > 63 or not _LABEL_VALUE.fullmatch(name):
            problems.append(f"{where}: Invalid value: {key!r}: name part must consist of alphanumeric characters, "
                            f"'-', '_' or '.', and must start and end with an alphanumeric character")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            problems.append(f"{where}: Invalid value: {value!r}: a valid label must be an empty string or consist "
                            f"of alphanumeric characters, '-', '_' or '.', at most 63 characters")
    return problems


def _container_problems(container: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    name = container.get("name")
    if not name:
        problems.append(f"{where}.name: Required value")
    elif len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        problems.append(f"{where}.name: Invalid value: {name!r}: a lowercase RFC 1123 label must consist of lower "
                        f"case alphanumeric characters or '-'")
    if not container.get("image"):
        problems.append(f"{where}.image: Required value")
    for i, item in enumerate(container.get("env") or []):
        if not item.get("name") or not _ENV_NAME.fullmatch(item["name"]):
            problems.append(f"{where}.env[{i}].name: Invalid value: {item.get('name')!r}: a valid environment "
                            f"variable name must consist of alphabetic characters, digits, '_', '-', or '.'")
        ref = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if "valueFrom" in item and (ref is None or not _FIELD_PATHS.fullmatch(ref)):
            problems.append(f"{where}.env[{i}].valueFrom.fieldRef.fieldPath: Unsupported value: {ref!r}")
    res = container.get("resources") or {}
    for part in ("requests", "limits"):
        for resource, amount in (res.get(part) or {}).items():
            if not _QUANTITY.fullmatch(str(amount)):
                problems.append(f"{where}.resources.{part}[{resource}]: Invalid value: {amount!r}: quantities must "
                                f"match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    return problems


def _job_problems(job: Mapping[str, Any]) -> list[str]:
    spec = job.get("spec")
    if not isinstance(spec, dict):
        return ["spec: Required value"]
    template = spec.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return ["spec.template.spec: Required value"]
    pod = template["spec"]
    problems = []
    containers = pod.get("containers") or []
    if not containers:
        problems.append("spec.template.spec.containers: Required value")
    for i, container in enumerate(containers):
        problems += _container_problems(container, f"spec.template.spec.containers[{i}]")
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append(f'spec.template.spec.restartPolicy: Unsupported value: "{pod.get("restartPolicy", "Always")}"'
                        f': supported values: "OnFailure", "Never"')
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("Indexed", "NonIndexed"):
        problems.append(f'spec.completionMode: Unsupported value: "{mode}": supported values: "NonIndexed", "Indexed"')
    if mode == "Indexed":
        if spec.get("completions") is None:
            problems.append("spec.completions: Required value: when completion mode is Indexed")
        elif spec["completions"] > 100_000:
            problems.append("spec.completions: Invalid value: must be less than or equal to 100000 when completion "
                            "mode is Indexed")
        if (spec.get("parallelism") or 0) > 100_000:
            problems.append("spec.parallelism: Invalid value: must be less than or equal to 100000 when completion "
                            "mode is Indexed")
    if spec.get("backoffLimitPerIndex") is not None and mode != "Indexed":
        problems.append("spec.backoffLimitPerIndex: Forbidden: requires indexed completion mode")
    for field in ("parallelism", "completions", "backoffLimit", "backoffLimitPerIndex", "ttlSecondsAfterFinished",
                  "activeDeadlineSeconds"):
        if isinstance(spec.get(field), int) and spec[field] < 0:
            problems.append(f"spec.{field}: Invalid value: {spec[field]}: must be greater than or equal to 0")
    problems += _label_problems((template.get("metadata") or {}).get("labels") or {},
                                "spec.template.metadata.labels")
    return problems


def _ksvc_problems(svc: Mapping[str, Any]) -> list[str]:
    template = ((svc.get("spec") or {}).get("template")) or {}
    spec = template.get("spec") or {}
    containers = spec.get("containers") or []
    problems = []
    if len(containers) != 1:
        problems.append("expected exactly one, got " + str(len(containers)) + ": spec.template.spec.containers")
    for container in containers:
        if not container.get("image"):
            problems.append("missing field(s): spec.template.spec.containers[0].image")
        if len(container.get("ports") or []) > 1:
            problems.append("more than one container port is set: spec.template.spec.containers[0].ports")
        for key in container:
            if key not in ("name", "image", "command", "args", "env", "ports", "resources", "securityContext",
                           "imagePullPolicy", "workingDir", "readinessProbe", "livenessProbe", "envFrom"):
                problems.append(f"must not set the field(s): spec.template.spec.containers[0].{key}")
    timeout = spec.get("timeoutSeconds")
    if timeout is not None and not 0 <= timeout <= KNATIVE_MAX_TIMEOUT:
        problems.append(f"expected 0 <= {timeout} <= {KNATIVE_MAX_TIMEOUT}: spec.template.spec.timeoutSeconds")
    concurrency = spec.get("containerConcurrency")
    if concurrency is not None and not 0 <= concurrency <= 1000:
        problems.append(f"expected 0 <= {concurrency} <= 1000: spec.template.spec.containerConcurrency")
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    scales = {}
    for key in ("autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale"):
        if key in annotations:
            try:
                scales[key] = int(annotations[key])
            except ValueError:
                problems.append(f"invalid value: {annotations[key]}: spec.template.metadata.annotations.{key}")
    low, high = scales.get("autoscaling.knative.dev/min-scale"), scales.get("autoscaling.knative.dev/max-scale")
    if low is not None and high is not None and high and low > high:
        problems.append(f"min-scale={low} is greater than max-scale={high}: spec.template.metadata.annotations")
    return problems


def _pod_security(spec: Mapping[str, Any], level: str) -> list[str]:
    """What of a pod spec the Pod Security Standard ``level`` forbids (as the admission controller words it)."""
    if level == "privileged":
        return []
    problems = []
    pod_ctx = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"host namespaces ({field}=true)")
    for c in spec.get("containers") or []:
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            problems.append(f'privileged (container "{c["name"]}" must not set securityContext.privileged=true)')
        added = set((ctx.get("capabilities") or {}).get("add") or [])
        if added - _BASELINE_CAPS:
            problems.append(f'non-default capabilities (container "{c["name"]}" must not include '
                            f'{", ".join(sorted(added - _BASELINE_CAPS))} in securityContext.capabilities.add)')
        if level != "restricted":
            continue
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f'allowPrivilegeEscalation != false (container "{c["name"]}" must set '
                            f'securityContext.allowPrivilegeEscalation=false)')
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            problems.append(f'unrestricted capabilities (container "{c["name"]}" must set '
                            f'securityContext.capabilities.drop=["ALL"])')
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            problems.append(f'runAsNonRoot != true (pod or container "{c["name"]}" must set '
                            f'securityContext.runAsNonRoot=true)')
        profile = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if profile not in ("RuntimeDefault", "Localhost"):
            problems.append(f'seccompProfile (pod or container "{c["name"]}" must set '
                            f'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
    return problems
