"""The fake Kubernetes API server refuses what a real one refuses and runs pods as Kubernetes does, checked with
the official client: a backend test that passes against it must not rely on something a cluster would reject."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from conftest import IMAGE


@pytest.fixture
def api(cluster: Any) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=cluster.kubeconfig)
    yield api_client
    api_client.close()


def _job(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": {"test": name}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": IMAGE, "command": command,
                 "env": [{"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}},
                     **spec}}


def _status(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def _wait(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("change, message", [
    (lambda j: j["spec"]["template"]["spec"].pop("restartPolicy"),
     'spec.template.spec.restartPolicy: Unsupported value: "Always"'),
    (lambda j: j["spec"]["template"]["spec"]["containers"][0].pop("image"),
     "spec.template.spec.containers[0].image: Required value"),
    (lambda j: j["spec"].update(completionMode="Indexed"),
     "spec.completions: Required value: when completion mode is Indexed"),
    (lambda j: j["spec"].update(backoffLimitPerIndex=0),
     "spec.backoffLimitPerIndex: Forbidden: requires indexed completion mode"),
    (lambda j: j["metadata"].update(labels={"lithops.io/executor-id": "x" * 64}), "at most 63 characters"),
    (lambda j: j["spec"]["template"]["spec"]["containers"][0].update(resources={"limits": {"memory": "1 GB"}}),
     "quantities must match the regular expression"),
])
def test_invalid_jobs_are_refused_with_kubernetes_status(api: Any, unique: str, change: Any, message: str) -> None:
    job = _job(f"bad-{unique}", ["python3", "-c", "pass"])
    change(job)
    with pytest.raises(ApiException) as info:
        client.BatchV1Api(api).create_namespaced_job("default", job)
    status = _status(info.value)
    assert (info.value.status, status["kind"], status["reason"]) == (422, "Status", "Invalid")
    assert message in status["message"]


def test_a_jobs_template_is_immutable(api: Any, unique: str) -> None:
    batch = client.BatchV1Api(api)
    name = f"immutable-{unique}"
    batch.create_namespaced_job("default", _job(name, ["python3", "-c", "pass"]))
    changed = _job(name, ["python3", "-c", "pass"])
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "other:1"
    with pytest.raises(ApiException, match=r"spec.template: Invalid value: field is immutable"):
        batch.replace_namespaced_job(name, "default", changed)
    batch.delete_namespaced_job(name, "default", propagation_policy="Background")


def test_wrong_token_is_401(cluster: Any, tmp_path: Any) -> None:
    path = tmp_path / "kc"
    cluster.write_kubeconfig(str(path))
    path.write_text(path.read_text().replace(cluster.token, "stolen"))
    api_client = config.new_client_from_config(config_file=str(path))
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(api_client).list_namespaced_pod("default")
    assert info.value.status == 401


def test_indexed_pods_get_the_environment_kubernetes_gives(api: Any, cluster: Any, unique: str) -> None:
    name = f"env-{unique}"
    script = "import os; print(os.environ['JOB_COMPLETION_INDEX'], os.environ['HOSTNAME'] == os.environ['MY_POD'])"
    client.BatchV1Api(api).create_namespaced_job("default", _job(
        name, ["python3", "-c", script], completionMode="Indexed", completions=3, parallelism=3))
    core = client.CoreV1Api(api)

    def done() -> bool:
        pods = core.list_namespaced_pod("default", label_selector=f"job-name={name}").items
        return len(pods) == 3 and all(p.status.phase == "Succeeded" for p in pods)

    _wait(done)
    logs = sorted(core.read_namespaced_pod_log(p.metadata.name, "default")
                  for p in core.list_namespaced_pod("default", label_selector=f"job-name={name}").items)
    assert logs == ["0 True\n", "1 True\n", "2 True\n"]
    _wait(lambda: client.BatchV1Api(api).read_namespaced_job(name, "default").status.completed_indexes == "0-2")
    client.BatchV1Api(api).delete_namespaced_job(name, "default", propagation_policy="Background")


def test_deleting_a_job_orphans_its_pods_unless_told_otherwise(api: Any, cluster: Any, unique: str) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    for policy in (None, "Background"):
        name = f"orphan-{unique}-{(policy or 'default').lower()}"
        batch.create_namespaced_job("default", _job(name, ["python3", "-c", "import time; time.sleep(60)"]))
        _wait(lambda name=name: [p.status.phase for p in core.list_namespaced_pod(
            "default", label_selector=f"job-name={name}").items] == ["Running"])
        batch.delete_namespaced_job(name, "default", propagation_policy=policy)
        pods = core.list_namespaced_pod("default", label_selector=f"job-name={name}").items
        if policy is None:  # the API's default for batch/v1 Jobs: the pod keeps running, without an owner
            assert [p.status.phase for p in pods] == ["Running"] and not pods[0].metadata.owner_references
            core.delete_namespaced_pod(pods[0].metadata.name, "default")
        else:
            assert pods == []


def test_knative_webhook_refuses_what_knative_refuses(api: Any, unique: str) -> None:
    svc = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": f"kn-{unique}"},
           "spec": {"template": {"spec": {"containers": [{"image": IMAGE, "privileged": True}, {"image": IMAGE}]}}}}
    with pytest.raises(ApiException) as info:
        client.CustomObjectsApi(api).create_namespaced_custom_object("serving.knative.dev", "v1", "default",
                                                                     "services", svc)
    message = _status(info.value)["message"]
    assert "expected exactly one, got 2: spec.template.spec.containers" in message
    assert "must not set the field(s): spec.template.spec.containers[0].privileged" in message
