"""The ``knative`` compute backend (serverless mode, storage transport): a Knative Service per runtime image and
memory size, invoked over HTTP.

The Service runs ``python3 -m lithops_kubernetes.knative.entry_point`` (the kernel's
:mod:`lithops.worker.http_service` on ``$PORT``); each group of calls is one POST of its worker payload, sent
through the cluster's ingress (``ingress_endpoint``, else the LoadBalancer of the networking layer's Service) with
the Knative Service's host name. The Service requires a token it holds in its environment, so only clients that
can read the Service can invoke it. A request that fails (the instance died, the ingress answered an error) fails
its calls that wrote no status, at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.helpers import DaemonThreads, report_failed
from lithops.backends.payloads import put_payload
from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.errors import BackendError, WorkerDiedError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops.worker.http_service import TOKEN_HEADER
from lithops_kubernetes import __version__
from lithops_kubernetes.kube import (
    MANAGED_BY,
    RUNTIME_LABEL,
    Cluster,
    is_not_found,
    resources,
    slug,
    worker_env,
    worker_processes,
)
from lithops_kubernetes.plugin import KNATIVE_CONFIG, warn_unused
from lithops_kubernetes.pods import calls_without_status, knative_security_context

logger = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "serving.knative.dev", "v1", "services"
SERVICE_COMMAND = ["python3", "-m", "lithops_kubernetes.knative.entry_point"]
MEMORY_LABEL = "lithops.io/memory"
#: Annotation holding a digest of the Service's template as Lithops wrote it (Knative adds defaults to the stored
#: one): a different digest means the config changed and the Service is updated.
DIGEST_ANNOTATION = "lithops.io/template-digest"
#: The Service of each networking layer whose LoadBalancer is the ingress: (namespace, name).
INGRESS_SERVICES = {"kourier": ("kourier-system", "kourier"), "istio": ("istio-system", "istio-ingressgateway"),
                    "contour": ("contour-external", "envoy")}
#: Payloads larger than this go through storage (the request carries a reference).
INLINE_PAYLOAD = 1024 * 1024
#: Seconds a new or updated Service may take to become Ready.
READY_TIMEOUT = 300.0


def default_runtime_name(section: Mapping[str, Any]) -> str:
    """The image Lithops builds for ``knative`` when ``runtime`` is unset."""
    user = section.get("docker_user") or "lithops"
    return (f"{section['docker_server']}/{user}/lithops-knative-default-v{CLIENT_PYTHON.replace('.', '')}:"
            f"{__version__}")


class KnativeBackend(ComputeBackend):
    """Runs calls as HTTP requests to a Knative Service.

    Args:
        config: the ``knative`` section (see ``lithops_kubernetes.plugin.KNATIVE_CONFIG``).
        lithops_config: the whole executor config.
        storage: the executor's storage, where statuses go.
    """

    transport = "storage"
    #: No start-up bound: groups wait in the client's pool for a free request slot (max_workers); a request that
    #: fails is reported at once.
    start_timeout = None
    status_interval = 0.5
    config_schema: ClassVar[Mapping[str, ConfigKey]] = KNATIVE_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        warn_unused(self.config, "knative")
        self.cluster = Cluster(self.config, "knative")
        self.namespace = self.cluster.namespace
        self._lock = threading.Lock()
        self._http_lock = threading.Lock()
        self._services: dict[int, tuple[str, str]] = {}  # memory -> (host, token)
        #: The runtime's metadata (Python, Lithops and protocol versions) as its Service reported it.
        self.metadata: dict[str, Any] = {}
        self._endpoint: str | None = None
        self._pool: DaemonThreads | None = None
        self._http: Any = None
        self._cancelled: set[str] = set()

    # -- the Service -----------------------------------------------------------------------------------------
    def runtime_name(self) -> str:
        """The configured image, or the default one."""
        return str(self.config.get("runtime") or default_runtime_name(self.config))

    def service_name(self, memory: int) -> str:
        """Name of the Knative Service of the runtime image with ``memory`` MiB."""
        image = self.runtime_name()
        digest = hashlib.sha1(image.encode(), usedforsecurity=False).hexdigest()[:8]
        base = slug(image.rsplit("/", 1)[-1].split(":")[0], 30)
        return slug(f"lithops-{base}-{digest}-{memory}mb")

    def manifest(self, name: str, memory: int, token: str) -> dict[str, Any]:
        """The ``serving.knative.dev/v1`` Service of the runtime with ``memory`` MiB."""
        image = self.runtime_name()
        section = {**self.config, "runtime_memory": memory}
        labels = {MANAGED_BY: "lithops", RUNTIME_LABEL: hashlib.sha1(image.encode(), usedforsecurity=False)
                  .hexdigest()[:10], MEMORY_LABEL: str(memory)}
        env = {**worker_env(section), "LITHOPS_HTTP_TOKEN": token,
               "LITHOPS_WORKER_PROCESSES": str(worker_processes(section))}
        if self.config["pod_security"] == "restricted":
            env["HOME"] = "/tmp"
        spec: dict[str, Any] = {
            "containerConcurrency": int(self.config["concurrency"]),
            "timeoutSeconds": int(self.config["runtime_timeout"]),
            "containers": [{
                "image": image,
                "command": SERVICE_COMMAND,
                "ports": [{"containerPort": 8080}],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "resources": resources(section),
                "securityContext": knative_security_context(self.config),
            }],
        }
        if self.config.get("service_account"):
            spec["serviceAccountName"] = self.config["service_account"]
        if self.config.get("image_pull_secret"):
            spec["imagePullSecrets"] = [{"name": self.config["image_pull_secret"]}]
        template = {"metadata": {"labels": dict(labels), "annotations": {
                        "autoscaling.knative.dev/min-scale": str(self.config["min_instances"]),
                        "autoscaling.knative.dev/max-scale": str(self.config["max_instances"])}},
                    "spec": spec}
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Service",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels,
                         "annotations": {"lithops.io/runtime-image": image, DIGEST_ANNOTATION: digest}},
            "spec": {"template": template},
        }

    def get_service(self, name: str) -> dict[str, Any] | None:
        """The Knative Service ``name``, or None."""
        from kubernetes.client.exceptions import ApiException

        with self.cluster.errors(f"reading Knative Service {name}"):
            try:
                found: Any = self.cluster.custom.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=self.cluster.timeout)
                return dict(found)
            except ApiException as exc:
                if is_not_found(exc):
                    return None
                raise

    def deploy(self, memory: int) -> tuple[str, str]:
        """Create (or update to this config) the Service of ``memory`` MiB, wait until it is Ready, check its
        Python; return its host name and token.
        """
        name = self.service_name(memory)
        current = self.get_service(name)
        token = _token_of(current) or secrets.token_hex(16)
        wanted = self.manifest(name, memory, token)
        custom = self.cluster.custom
        if current is None:
            logger.info("Creating Knative Service %s", name)
            self.cluster.call(f"creating Knative Service {name}", custom.create_namespaced_custom_object, GROUP,
                              VERSION, self.namespace, PLURAL, wanted)
        elif (current["metadata"].get("annotations") or {}).get(DIGEST_ANNOTATION) != \
                wanted["metadata"]["annotations"][DIGEST_ANNOTATION]:
            logger.info("Updating Knative Service %s", name)
            wanted["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.cluster.call(f"updating Knative Service {name}", custom.replace_namespaced_custom_object, GROUP,
                              VERSION, self.namespace, PLURAL, name, wanted)
        url = self.wait_ready(name)
        host = urlsplit(url).netloc
        meta = self.request(host, token, {"lithops_action": "metadata"}, timeout=60.0)
        self.metadata = meta
        check_runtime_python(meta.get("python_version"), f"the knative runtime {self.runtime_name()} (Service "
                             f"{name})", f"build it for Python {CLIENT_PYTHON} ('lithops runtime build -b knative') "
                             f"or set knative.runtime to an image with Python {CLIENT_PYTHON}")
        return host, token

    def wait_ready(self, name: str) -> str:
        """Wait until Service ``name`` is Ready; return its URL. A Service Knative reports not Ready is an error."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            svc = self.get_service(name) or {}
            status = svc.get("status") or {}
            generation = (svc.get("metadata") or {}).get("generation")
            ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
            if status.get("observedGeneration") == generation:
                if ready.get("status") == "True" and status.get("url"):
                    return str(status["url"])
                if ready.get("status") == "False":
                    raise BackendError(
                        f"the Knative Service {name} of runtime {self.runtime_name()} is not Ready: "
                        f"{ready.get('reason')}: {ready.get('message')}. Build and push the image with 'lithops "
                        f"runtime build -b knative', or set knative.runtime to an image the cluster can pull "
                        f"(knative.image_pull_secret for a private registry). Nothing was sent."
                    )
            if time.monotonic() > deadline:
                raise BackendError(f"the Knative Service {name} was not Ready after {READY_TIMEOUT:g} s "
                                   f"('kubectl describe ksvc {name} -n {self.namespace}' says why).")
            time.sleep(0.25)

    def endpoint(self) -> str:
        """Where requests go: ``ingress_endpoint``, else the LoadBalancer of the networking layer's Service."""
        if self._endpoint is not None:
            return self._endpoint
        if self.config.get("ingress_endpoint"):
            self._endpoint = str(self.config["ingress_endpoint"]).rstrip("/")
            return self._endpoint
        layer = self.config["networking_layer"]
        ns, name = INGRESS_SERVICES[layer]
        try:
            svc = self.cluster.call(f"reading the {layer} ingress Service {ns}/{name}",
                                    self.cluster.core.read_namespaced_service, name, ns)
        except BackendError as exc:
            raise BackendError(f"{exc}. Check knative.networking_layer ({layer!r}: Knative's ingress must be "
                               f"installed), or set knative.ingress_endpoint to the ingress's http://host:port."
                               ) from None
        ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
        if not ingress:
            raise BackendError(f"the {layer} Service {ns}/{name} has no LoadBalancer address yet: set "
                               f"knative.ingress_endpoint to the ingress's http://host:port (with minikube, run "
                               f"'minikube tunnel' and use http://127.0.0.1:80).")
        address = ingress[0].ip or ingress[0].hostname
        port = next((p.port for p in svc.spec.ports if p.name in ("http2", "http", "http80")), svc.spec.ports[0].port)
        self._endpoint = f"http://{address}:{port}"
        return self._endpoint

    def request(self, host: str, token: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """POST ``body`` to the Service at ``host`` through the ingress; return its JSON answer."""
        import urllib3

        with self._http_lock:
            if self._http is None:
                self._http = urllib3.PoolManager(maxsize=int(self.config["invoke_pool_threads"]), retries=False)
            http = self._http
        url = self.endpoint() + "/"
        try:
            answer = http.request("POST", url, body=json.dumps(body).encode(),
                                  headers={"Host": host, "Content-Type": "application/json", TOKEN_HEADER: token},
                                  timeout=urllib3.Timeout(connect=10.0, read=timeout))
        except urllib3.exceptions.HTTPError as exc:
            raise BackendError(f"the request to Knative Service {host} through {url} failed: {exc}") from None
        text = answer.data.decode(errors="replace")
        if answer.status != 200:
            raise BackendError(f"Knative Service {host} answered {answer.status} through {url}: {text[:500]}")
        try:
            return dict(json.loads(text))
        except ValueError:
            raise BackendError(f"Knative Service {host} answered something that is not JSON: {text[:200]!r}") from None

    # -- the contract ----------------------------------------------------------------------------------------
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Make sure the Service is Ready, then send one request per group of calls from the client's pool."""
        memory = int(job.runtime_memory or self.config["runtime_memory"])
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        with self._lock:
            if memory not in self._services:
                self._services[memory] = self.deploy(memory)
            host, token = self._services[memory]
            if self._pool is None:
                threads = min(int(self.config["invoke_pool_threads"]), self.max_workers)
                self._pool = DaemonThreads(threads, name="lithops-knative")
            pool = self._pool
        self._cancelled.discard(job.job_key)
        for ids in job.chunks():
            payload = job.worker_payload(ids, worker_processes(self.config))
            body: dict[str, Any] = payload
            if len(json.dumps(payload)) > INLINE_PAYLOAD:
                body = {"lithops_payload": put_payload(self, job, f"{job.prefix}/knative-{ids[0]}.json", payload)}
            try:
                pool.submit(self._send, job.job_key, host, token, payload, body, report)
            except RuntimeError as exc:
                raise BackendError(f"backend 'knative' cannot start job {job.job_key}: {exc}") from exc

    def _send(self, job_key: str, host: str, token: str, payload: dict[str, Any], body: dict[str, Any],
              report: StatusReporter) -> None:
        if job_key in self._cancelled:
            return
        timeout = float(self.config["runtime_timeout"]) + 30
        try:
            self.request(host, token, body, timeout)
        except BackendError as exc:
            try:
                storage, _ = self.job_storage()
                missing = calls_without_status(storage, payload["executor_id"], payload["job_id"],
                                               list(payload["call_ids"]))
            except Exception:  # storage unreachable: fail them all, the request failed anyway
                missing = list(payload["call_ids"])
            report_failed(report, payload, WorkerDiedError(str(exc)), missing)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Requests of these jobs still in the client's pool are not sent (those in flight run to the end)."""
        self._cancelled.update(job_keys)

    def close(self) -> None:
        """Stop the request pool (a later invoke starts a new one); the Service stays, scaled to zero when idle."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()


def _token_of(service: Mapping[str, Any] | None) -> str | None:
    if not service:
        return None
    for container in service.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        for item in container.get("env") or []:
            if item.get("name") == "LITHOPS_HTTP_TOKEN":
                return str(item.get("value"))
    return None
