"""What both backends put in their pods (security contexts, resources, environment) and what they read back from
Kubernetes when a pod or request fails (the kubelet's reason, the calls that wrote no status).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lithops.job.job import job_prefix

#: Container waiting reasons that never resolve by themselves: the job cannot run.
FATAL_WAITING = {
    "ImagePullBackOff": "the image cannot be pulled",
    "ErrImageNeverPull": "the image is not on the node and its pull policy is Never",
    "InvalidImageName": "the image name is not valid",
    "CreateContainerConfigError": "the container's configuration refers to something missing (a Secret, a "
                                  "ConfigMap)",
}


def security_context(section: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod's and the container's ``securityContext`` for ``pod_security``: both Pod Security Standards'
    container rules (no privilege escalation, every capability dropped, the runtime's seccomp profile), and under
    "restricted" a non-root user (``run_as_user``) as well.
    """
    container: dict[str, Any] = {"allowPrivilegeEscalation": False, "privileged": False,
                                 "capabilities": {"drop": ["ALL"]}}
    pod: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if section["pod_security"] == "restricted":
        uid = int(section["run_as_user"])
        pod.update(runAsNonRoot=True, runAsUser=uid, runAsGroup=uid, fsGroup=uid)
        container["runAsNonRoot"] = True
    return pod, container


def knative_security_context(section: Mapping[str, Any]) -> dict[str, Any]:
    """The container ``securityContext`` of a Knative Service: Knative takes only container-level fields (and not
    ``privileged``), so the pod-level ones of :func:`security_context` move there.
    """
    pod, container = security_context(section)
    container.pop("privileged")
    container["seccompProfile"] = pod["seccompProfile"]
    for key in ("runAsUser", "runAsGroup"):
        if key in pod:
            container[key] = pod[key]
    return container


def describe_pod(pod: Any) -> str | None:
    """Why a pod failed (phase Failed), or why it can never start (:data:`FATAL_WAITING`); None while it may run.

    ``pod`` is a ``V1Pod`` of the client.
    """
    status = pod.status
    name = pod.metadata.name
    for cs in status.container_statuses or []:
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason in FATAL_WAITING:
            return (f"pod {name} cannot start: {waiting.reason} ({FATAL_WAITING[waiting.reason]}): "
                    f"{waiting.message or cs.image}")
    if status.phase != "Failed":
        return None
    if status.reason == "Evicted":
        return f"pod {name} was evicted by its node: {status.message}"
    if status.reason == "DeadlineExceeded":
        return f"pod {name} ran longer than its activeDeadlineSeconds and was stopped"
    for cs in status.container_statuses or []:
        term = cs.state.terminated if cs.state else None
        if term is None:
            continue
        if term.reason == "OOMKilled":
            return f"pod {name} was OOMKilled (it used more than its memory limit)"
        what = f"exit code {term.exit_code}"
        if term.exit_code == 137:
            what += ": killed with SIGKILL (a node failure, the pod deleted, or out of memory)"
        return f"pod {name} failed ({term.reason or 'Error'}, {what}){': ' + term.message if term.message else ''}"
    return f"pod {name} failed: {status.reason or ''} {status.message or ''}".strip()


def unschedulable(pod: Any) -> str | None:
    """The scheduler's message when it found no node for a pod (``PodScheduled`` False, ``Unschedulable``)."""
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
            return str(condition.message or "no node can take the pod").rstrip(".")
    return None


def calls_without_status(storage: Any, executor_id: str, job_id: str, call_ids: list[str]) -> list[str]:
    """The calls among ``call_ids`` whose ``status.json`` is not in the job's storage (one listing)."""
    prefix = job_prefix(executor_id, job_id) + "/"
    written = {key[len(prefix):].split("/", 1)[0] for key in storage.list_keys(storage.bucket, prefix)
               if key.endswith("/status.json")}
    return [c for c in call_ids if c not in written]
