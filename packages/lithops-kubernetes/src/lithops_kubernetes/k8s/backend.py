"""The ``k8s`` compute backend (serverless mode, storage transport): one batch Job with indexed completions per map.

The worker payloads of a map are written to the job's storage as one JSON list; a Job of that many completions
(``completionMode: Indexed``, ``parallelism`` up to ``max_workers``) runs ``python3 -m
lithops_kubernetes.k8s.entry_point`` in the runtime image, and the pod of completion index ``i``
(``JOB_COMPLETION_INDEX``) runs payload ``i``. ``backoffLimitPerIndex: 0`` keeps a failed pod from being retried (a
call runs at most once) without stopping the other indexes.

A watcher lists the executor's pods (one request per poll, whatever the number of calls) and fails the calls of a
pod that failed, was OOM-killed or evicted, with the kubelet's reason; an image that cannot be pulled, or pods the
cluster refuses to create (Pod Security admission, a quota), fail the whole Job within a poll. Jobs and pods carry
the executor and job ids as labels; ``close()`` deletes the executor's Jobs, ``cancel`` the cancelled ones, and
``lithops clean`` any that a crashed client left.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from lithops.backends.array_jobs import ArrayJobs, ArrayRun, poll_interval
from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.helpers import body_bytes
from lithops.backends.payloads import put_payload
from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_kubernetes import __version__
from lithops_kubernetes.kube import (
    EXECUTOR_LABEL,
    JOB_LABEL,
    MANAGED_BY,
    RUNTIME_LABEL,
    Cluster,
    resources,
    slug,
    worker_env,
    worker_processes,
)
from lithops_kubernetes.plugin import K8S_CONFIG, warn_unused
from lithops_kubernetes.pods import describe_pod, security_context, unschedulable

logger = logging.getLogger(__name__)

WORKER_COMMAND = ["python3", "-m", "lithops_kubernetes.k8s.entry_point"]
CONTAINER_NAME = "lithops-worker"
#: Oldest Kubernetes that has ``backoffLimitPerIndex`` on by default (beta in 1.29, GA in 1.33).
MIN_KUBERNETES = (1, 29)
#: Largest number of completions of an indexed Job.
MAX_COMPLETIONS = 100_000
#: Seconds a finished Job (and its pods) stays in the cluster when the client is not there to delete it.
FINISHED_TTL = 600
#: Seconds the metadata pod of a runtime may take.
METADATA_TIMEOUT = 300.0
#: What to do about pods no node can take.
UNSCHEDULABLE_ADVICE = ("if no node can ever take them, lower k8s.runtime_cpu or runtime_memory, or check "
                        "k8s.runtime_arch against the nodes ('kubectl get nodes -L kubernetes.io/arch')")
#: Storage prefix of the runtimes' cached metadata.
RUNTIMES_PREFIX = "lithops.runtimes/k8s"


def default_runtime_name(section: Mapping[str, Any]) -> str:
    """The image Lithops builds for ``k8s`` when ``runtime`` is unset."""
    user = section.get("docker_user") or "lithops"
    return (f"{section['docker_server']}/{user}/lithops-k8s-default-v{CLIENT_PYTHON.replace('.', '')}:"
            f"{__version__}")


class K8sBackend(ComputeBackend):
    """Runs each map as a Kubernetes batch Job with indexed completions.

    Args:
        config: the ``k8s`` section (see ``lithops_kubernetes.plugin.K8S_CONFIG``).
        lithops_config: the whole executor config.
        storage: the executor's storage, where payloads and statuses go.
    """

    transport = "storage"
    #: No start-up bound: pods may wait for nodes (an autoscaler) or a quota; the watcher reports real failures.
    start_timeout = None
    ships_modules = True
    config_schema: ClassVar[Mapping[str, ConfigKey]] = K8S_CONFIG
    #: Least seconds between two polls of the executor's pods.
    MIN_WATCH_INTERVAL = 0.25

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        warn_unused(self.config, "k8s")
        self.cluster = Cluster(self.config, "k8s")
        self.namespace = self.cluster.namespace
        self._lock = threading.Lock()
        self._checked: dict[str, dict[str, Any]] = {}
        self._server_checked = False
        self._executors: set[str] = set()
        self._executors_lock = threading.Lock()
        #: The submitted Jobs, watched by listing the executors' Jobs and pods.
        self.runs = ArrayJobs(self, poll_interval(self, self.MIN_WATCH_INTERVAL), "lithops-k8s-watch")

    # -- names and manifests ---------------------------------------------------------------------------------
    def runtime_name(self) -> str:
        """The configured image, or the default one."""
        return str(self.config.get("runtime") or default_runtime_name(self.config))

    def labels(self, executor_id: str, job_id: str, runtime: str) -> dict[str, str]:
        """The labels of a Job and its pods."""
        digest = hashlib.sha1(runtime.encode(), usedforsecurity=False).hexdigest()[:10]
        return {MANAGED_BY: "lithops", EXECUTOR_LABEL: executor_id, JOB_LABEL: job_id, RUNTIME_LABEL: digest}

    def job_manifest(self, name: str, labels: Mapping[str, str], completions: int, parallelism: int,
                     env: Mapping[str, str], args: list[str] | None = None) -> dict[str, Any]:
        """A ``batch/v1`` Job of ``completions`` indexed pods running the worker command in the runtime image."""
        pod_ctx, container_ctx = security_context(self.config)
        container: dict[str, Any] = {
            "name": CONTAINER_NAME,
            "image": self.runtime_name(),
            "command": WORKER_COMMAND + (args or []),
            "env": [{"name": k, "value": v} for k, v in {**worker_env(self.config), **env}.items()]
                   + [{"name": "LITHOPS_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "resources": resources(self.config),
            "securityContext": container_ctx,
        }
        if self.config["pod_security"] == "restricted":
            container["env"].append({"name": "HOME", "value": "/tmp"})
        pod: dict[str, Any] = {
            "restartPolicy": "Never",
            "containers": [container],
            "securityContext": pod_ctx,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            # a backstop: the entry point stops its calls at runtime_timeout and writes their statuses first
            "activeDeadlineSeconds": int(self.config["runtime_timeout"]) + 30,
        }
        if self.config.get("service_account"):
            pod["serviceAccountName"] = self.config["service_account"]
        if self.config.get("image_pull_secret"):
            pod["imagePullSecrets"] = [{"name": self.config["image_pull_secret"]}]
        if self.config.get("runtime_arch"):
            pod["nodeSelector"] = {"kubernetes.io/arch": self.config["runtime_arch"]}
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": self.namespace, "labels": dict(labels)},
            "spec": {
                "completionMode": "Indexed",
                "completions": completions,
                "parallelism": parallelism,
                "backoffLimitPerIndex": 0,
                "ttlSecondsAfterFinished": FINISHED_TTL,
                "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
            },
        }

    def _create_job(self, manifest: dict[str, Any], what: str) -> None:
        self.cluster.call(what, self.cluster.batch.create_namespaced_job, self.namespace, manifest)

    def delete_jobs(self, selector: str) -> None:
        """Delete the Jobs (and their pods) matching a label selector."""
        self.cluster.call(f"deleting the Jobs {selector}", self.cluster.batch.delete_collection_namespaced_job,
                          self.namespace, label_selector=selector, propagation_policy="Background")

    # -- the runtime -----------------------------------------------------------------------------------------
    def check_server(self) -> None:
        """Refuse a cluster older than :data:`MIN_KUBERNETES` (once)."""
        if self._server_checked:
            return
        from kubernetes import client

        info = self.cluster.call("asking the cluster's version", client.VersionApi(self.cluster.api).get_code)
        found = (int(info.major), int("".join(ch for ch in info.minor if ch.isdigit()) or 0))
        if found < MIN_KUBERNETES:
            raise BackendError(
                f"the cluster runs Kubernetes {info.git_version}; backend k8s needs "
                f"{'.'.join(map(str, MIN_KUBERNETES))} or newer (indexed Jobs with backoffLimitPerIndex, so that a "
                f"failed call is not run again). "
                f"Upgrade the cluster, or use backend knative."
            )
        self._server_checked = True

    def runtime_metadata(self, refresh: bool = False) -> dict[str, Any]:
        """The runtime image's Python, Lithops and protocol versions: from the job storage's cache, else from a
        one-pod Job that prints them (cached then). Raises :class:`BackendError` when that pod cannot run.
        """
        image = self.runtime_name()
        if image in self._checked and not refresh:
            return self._checked[image]
        storage, _ = self.job_storage()
        key = self.metadata_key(image)
        meta: dict[str, Any] | None = None
        if not refresh:
            from lithops.storage.utils import StorageNoSuchKeyError

            try:
                meta = json.loads(body_bytes(storage.get_object(storage.bucket, key)))
            except StorageNoSuchKeyError:
                meta = None
        if meta is None:
            meta = {**self._run_metadata_pod(image), "runtime_name": image}
            storage.put_object(storage.bucket, key, json.dumps(meta).encode())
        self._checked[image] = meta
        return meta

    def metadata_key(self, image: str) -> str:
        """Storage key of the recorded metadata of runtime ``image``."""
        return f"{RUNTIMES_PREFIX}/{slug(image, 200)}.json"

    def _run_metadata_pod(self, image: str) -> dict[str, Any]:
        name = slug(f"lithops-meta-{hashlib.sha1(image.encode(), usedforsecurity=False).hexdigest()[:12]}-"
                    f"{time.time_ns() % 10**8}")
        labels = self.labels("metadata", "metadata", image)
        self._create_job(self.job_manifest(name, labels, 1, 1, {}, ["metadata"]),
                         f"creating the metadata Job {name} of runtime {image}")
        selector = f"job-name={name}"
        waiting: str | None = None
        try:
            deadline = time.monotonic() + METADATA_TIMEOUT
            while time.monotonic() < deadline:
                pods = self.cluster.call(f"listing the pods of Job {name}", self.cluster.core.list_namespaced_pod,
                                         self.namespace, label_selector=selector).items
                for pod in pods:
                    problem = describe_pod(pod)
                    if problem:
                        raise BackendError(self._runtime_problem(image, problem) + " Nothing was sent.")
                    if waiting is None:
                        waiting = self._report_unschedulable(name, pod)
                    if pod.status.phase == "Succeeded":
                        log = self.cluster.call(f"reading the log of pod {pod.metadata.name}",
                                                self.cluster.core.read_namespaced_pod_log, pod.metadata.name,
                                                self.namespace)
                        return _last_json(log, image)
                if not pods:
                    refusal = self.creation_refusal(name)
                    if refusal:
                        raise BackendError(self._runtime_problem(image, refusal) + " Nothing was sent.")
                time.sleep(self.MIN_WATCH_INTERVAL)
            if waiting:
                raise BackendError(f"the metadata pod of runtime {image} did not start within {METADATA_TIMEOUT:g} s:"
                                   f" {waiting}. {UNSCHEDULABLE_ADVICE}. Nothing was sent.")
            raise BackendError(f"the metadata pod of runtime {image} did not finish within {METADATA_TIMEOUT:g} s "
                               f"(kubectl describe job {name} -n {self.namespace} says why).")
        finally:
            try:
                self.cluster.call(f"deleting Job {name}", self.cluster.batch.delete_namespaced_job, name,
                                  self.namespace, propagation_policy="Background")
            except BackendError as exc:
                logger.debug("could not delete the metadata Job %s: %s", name, exc)

    def _report_unschedulable(self, job_name: str, pod: Any) -> str | None:
        """Warn (once per Job, by the caller) that the scheduler finds no node for a pod; return its message."""
        message = unschedulable(pod)
        if message:
            logger.warning("The pods of Job %s cannot be scheduled yet: %s. They wait for a node (a cluster "
                           "autoscaler may add one); %s.", job_name, message, UNSCHEDULABLE_ADVICE)
        return message

    def _runtime_problem(self, image: str, problem: str) -> str:
        return (f"the k8s runtime image {image} cannot run: {problem}. Build and push it with 'lithops runtime "
                f"build -b k8s{'' if image == default_runtime_name(self.config) else ' ' + image}' (docker, podman "
                f"or buildah), or set k8s.runtime to an image the cluster can pull (with k8s.image_pull_secret for a "
                f"private registry).")

    def creation_refusal(self, job_name: str) -> str | None:
        """The message of the last ``FailedCreate`` event of a Job (pods refused by admission or a quota), or None."""
        events = self.cluster.call(f"listing the events of Job {job_name}", self.cluster.core.list_namespaced_event,
                                   self.namespace,
                                   field_selector=f"involvedObject.kind=Job,involvedObject.name={job_name}").items
        refused = [e for e in events if e.reason == "FailedCreate"]
        if not refused:
            return None
        message = str(refused[-1].message)
        if "exceeded quota" in message:
            advice = "raise the namespace's ResourceQuota, or lower k8s.runtime_cpu, runtime_memory or max_workers"
        elif "PodSecurity" in message:
            advice = ("set k8s.pod_security to 'restricted' (the image must run as a non-root user), or relax the "
                      "namespace's pod-security.kubernetes.io/enforce label")
        else:
            advice = f"see 'kubectl describe job {job_name} -n {self.namespace}'"
        return f"the cluster refuses to create its pods: {message}. To fix it, {advice}"

    def prepare(self) -> None:
        """Check the cluster's version and the runtime's Python before the first Job is sent."""
        self.check_server()
        meta = self.runtime_metadata()
        image = self.runtime_name()
        check_runtime_python(meta.get("python_version"), f"the k8s runtime {image}",
                             f"build it for Python {CLIENT_PYTHON} ('lithops runtime build -b k8s') or set k8s.runtime "
                             f"to an image with Python {CLIENT_PYTHON}, then 'lithops runtime deploy -b k8s' to "
                             f"refresh its cached metadata")

    # -- the contract ----------------------------------------------------------------------------------------
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Write the map's payloads to storage, create one indexed Job that runs them, and watch its pods."""
        with self._lock:
            self.prepare()
        # pods are stopped after runtime_timeout: no call outlives it
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        groups = job.call_groups(min(self.max_workers, MAX_COMPLETIONS))
        payloads = [job.worker_payload(ids, worker_processes(self.config)) for ids in groups]
        reference = put_payload(self, job, f"{job.prefix}/k8s_payloads.json", payloads)
        name = slug(f"lithops-{job.job_key}")
        labels = self.labels(job.executor_id, job.job_id, self.runtime_name())
        env = {"LITHOPS_K8S_PAYLOADS": reference["key"], "LITHOPS_K8S_STORAGE": json.dumps(reference["storage"])}
        manifest = self.job_manifest(name, labels, len(groups), min(len(groups), self.max_workers), env)
        with self._executors_lock:
            self._executors.add(job.executor_id)
        self._create_job(manifest, f"creating Job {name} for {job.job_key}")
        self.runs.watch(ArrayRun(job.executor_id, job.job_id, name, groups, report))
        logger.debug("ExecutorID %s | JobID %s - Job %s with %d indexes", job.executor_id, job.job_id, name,
                     len(groups))

    # -- watching the submitted Jobs (lithops.backends.array_jobs) -------------------------------------------
    def poll_runs(self, runs: list[ArrayRun]) -> None:
        """One look at the executors' Jobs and pods (two list requests): fail the calls of pods that failed or
        cannot start, and of Jobs whose pods the cluster refuses to create; forget finished Jobs.
        """
        selector = f"{EXECUTOR_LABEL} in ({','.join(sorted({run.executor_id for run in runs}))})"
        batch, core = self.cluster.batch, self.cluster.core
        jobs = {j.metadata.name: j for j in self.cluster.call("listing Jobs", batch.list_namespaced_job,
                                                              self.namespace, label_selector=selector).items}
        pods = self.cluster.call("listing pods", core.list_namespaced_pod, self.namespace,
                                 label_selector=selector).items
        by_job: dict[str, list[Any]] = {}
        for pod in pods:
            by_job.setdefault((pod.metadata.labels or {}).get("job-name", ""), []).append(pod)
        for run in runs:
            every = range(len(run.groups))
            k8s_job = jobs.get(run.name)
            if k8s_job is None:
                self.runs.fail(run, every, f"Job {run.name} was deleted before its calls finished")
                self.runs.finish(run)
                continue
            mine = by_job.get(run.name, [])
            for pod in mine:
                problem = describe_pod(pod)
                if problem is None:
                    if not run.warned and self._report_unschedulable(run.name, pod):
                        run.warned = True
                    continue
                index = int((pod.metadata.annotations or {}).get("batch.kubernetes.io/job-completion-index", 0))
                if pod.status.phase == "Failed":
                    self.runs.fail(run, [index], _with_hint(problem))
                else:  # it can never start, nor can its siblings: fail the whole Job now
                    reason = self._runtime_problem(self.runtime_name(), problem)
                    self.runs.fail(run, every, reason)
                    self.runs.stop(run, reason)
                    break
            else:
                conditions = {c.type: c for c in (k8s_job.status.conditions or []) if c.status == "True"}
                if "Complete" in conditions or "Failed" in conditions:
                    if "Failed" in conditions and conditions["Failed"].reason != "FailedIndexes":
                        self.runs.fail(run, every, f"Job {run.name} failed: {conditions['Failed'].reason}: "
                                                   f"{conditions['Failed'].message}")
                    self.runs.finish(run)
                elif not mine and not (k8s_job.status.active or k8s_job.status.succeeded or k8s_job.status.failed):
                    refusal = self.creation_refusal(run.name)
                    if refusal:
                        self.runs.fail(run, every, f"Job {run.name}: {refusal}")
                        self.runs.stop(run, refusal)

    def index_failure(self, run: ArrayRun, index: int, reason: str) -> str:
        """The error of the calls of a failed index that wrote no status."""
        return f"Kubernetes Job {run.name} (index {index}) of {run.job_key}: {reason}"

    def stop_run(self, run: ArrayRun, reason: str) -> None:
        """Delete a Job and its pods (indexes not started never start)."""
        self.delete_jobs(f"{EXECUTOR_LABEL}={run.executor_id},{JOB_LABEL}={run.job_id}")

    def cancel(self, job_keys: Collection[str]) -> None:
        """Delete the Jobs of these Lithops jobs (their pods stop; indexes not started never start)."""
        self.runs.cancel(job_keys)

    def clean_leftovers(self) -> list[str]:
        """Delete every Lithops Job (and its pods) in the namespace: what clients that died before ``close()``
        left (``lithops clean``, which is run when no executor is working).
        """
        selector = f"{MANAGED_BY}=lithops"
        jobs = self.cluster.call("listing Lithops' Jobs", self.cluster.batch.list_namespaced_job, self.namespace,
                                 label_selector=selector).items
        if not jobs:
            return []
        self.delete_jobs(selector)
        names = sorted(j.metadata.name for j in jobs)
        return [f"Deleted {len(names)} Job(s) and their pods from namespace {self.namespace}: {', '.join(names)}."]

    def close(self) -> None:
        """Stop watching and delete this executor's Jobs and pods."""
        self.runs.close()
        with self._executors_lock:
            executors, self._executors = sorted(self._executors), set()
        if executors:
            try:
                self.delete_jobs(f"{EXECUTOR_LABEL} in ({','.join(executors)})")
            except BackendError as exc:
                logger.warning("could not delete the Jobs of executor %s: %s", ", ".join(executors), exc)


def _with_hint(problem: str) -> str:
    if "OOMKilled" in problem or "out of memory" in problem:
        return problem + ". If it ran out of memory, raise k8s.runtime_memory"
    return problem


def _last_json(log: str, image: str) -> dict[str, Any]:
    for line in reversed((log or "").strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "python_version" in value:
            return value
    raise BackendError(f"the k8s runtime image {image} did not report its metadata; its pod printed: "
                       f"{(log or '')[-500:]!r}. Is lithops-core installed in it?")

