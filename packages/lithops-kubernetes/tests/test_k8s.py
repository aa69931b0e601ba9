"""The ``k8s`` backend on the fake cluster: the Job it sends, faults Kubernetes reports through pod status, and
bad input (kubeconfig, context, namespace, RBAC, Pod Security, quota, an image that cannot be pulled)."""

from __future__ import annotations

import socket
import stat
import sys
import time
from typing import Any

import pytest

from conftest import make_config
from lithops import FunctionExecutor
from lithops.errors import BackendError, ConfigError, FunctionTimeoutError, WorkerDiedError
from lithops.worker.handler import started_key
from lithops_kubernetes.kube import EXECUTOR_LABEL, JOB_LABEL, slug


def _sleep_unless(x: int, slow: int = -1) -> int:
    time.sleep(60 if x == slow else 0.5)
    return x


def _job_name(future: Any) -> str:
    return slug(f"lithops-{future.executor_id}-{future.job_id}")


def _stored_job(cluster: Any, name: str, ns: str = "lithops") -> dict[str, Any]:
    return cluster.objects[("Job", ns, name)]


def _wait_started(fexec: FunctionExecutor, future: Any, timeout: float = 30) -> None:
    storage = fexec.storage
    key = started_key(future.executor_id, future.job_id, future.call_id)
    deadline = time.monotonic() + timeout
    while key not in storage.list_keys(storage.bucket, key):
        assert time.monotonic() < deadline, f"call {future.call_id} did not start within {timeout} s"
        time.sleep(0.05)


def _pod_of_index(cluster: Any, job_name: str, index: int) -> str:
    for pod in cluster.job_pods("lithops", job_name):
        if pod.obj["metadata"]["annotations"].get("batch.kubernetes.io/job-completion-index") == str(index):
            return pod.name
    raise AssertionError(f"no pod of index {index} in Job {job_name}")


def test_one_indexed_job_per_map_as_the_api_server_stores_it(cluster: Any, storage_root: str) -> None:
    """40 calls with max_workers 4: one Job of 4 indexed completions, labelled with the executor and job ids, with
    the security contexts of the "baseline" default and the resources of the config."""
    config = make_config(cluster, storage_root, runtime_cpu=0.5, runtime_memory=300)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(lambda x: x + 1, range(40))
        assert fexec.get_result(futures, timeout=60) == list(range(1, 41))
        name = _job_name(futures[0])
        job = _stored_job(cluster, name)
        posts = [r for r in cluster.requests if r == ("POST", "/apis/batch/v1/namespaces/lithops/jobs")]
        spec = job["spec"]
        assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
        assert spec["backoffLimitPerIndex"] == 0
        labels = job["metadata"]["labels"]
        assert labels[EXECUTOR_LABEL] == futures[0].executor_id and labels[JOB_LABEL] == futures[0].job_id
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "privileged": False,
                                                "capabilities": {"drop": ["ALL"]}}
        assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        assert container["resources"]["limits"] == {"cpu": "500m", "memory": "300Mi"}
        assert {"name": "LITHOPS_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in \
            container["env"]
        deadline = time.monotonic() + 15
        while job["status"].get("completedIndexes") != "0-3" and time.monotonic() < deadline:
            time.sleep(0.05)  # the pods end just after writing their statuses
        assert job["status"]["completedIndexes"] == "0-3"
    assert posts, "the Job was created with a POST"
    assert ("Job", "lithops", name) not in cluster.objects, "close() deletes the executor's Jobs"
    assert not cluster.job_pods("lithops", name), "and their pods"


@pytest.mark.parametrize("calls", [8, 800])
def test_waiting_costs_two_list_requests_per_poll_whatever_the_number_of_calls(cluster: Any, storage_root: str,
                                                                              calls: int) -> None:
    config = make_config(cluster, storage_root)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(abs, range(calls))
        first = len(cluster.requests)
        fexec.get_result(futures, timeout=60)
        waiting = cluster.requests[first:]
    lists = {("GET", "/apis/batch/v1/namespaces/lithops/jobs"), ("GET", "/api/v1/namespaces/lithops/pods")}
    assert set(waiting) <= lists, "only the two listings while waiting"
    jobs, pods = (sum(1 for r in waiting if r[1].endswith(kind)) for kind in ("/jobs", "/pods"))
    assert abs(jobs - pods) <= 1, "one Job listing and one pod listing per poll"


def test_killed_pod_fails_its_call_in_seconds_and_keeps_the_rest(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_sleep_unless, [(i, 1) for i in range(4)])
        _wait_started(fexec, futures[1])
        start = time.monotonic()
        cluster.kill_pod("lithops", _pod_of_index(cluster, _job_name(futures[0]), 1))
        with pytest.raises(WorkerDiedError, match="exit code 137"):
            futures[1].result(timeout=30)
        assert time.monotonic() - start < 10, "Kubernetes reports the pod failed: the call fails within seconds"
        assert [f.result(timeout=30) for f in (futures[0], futures[2], futures[3])] == [0, 2, 3]


@pytest.mark.parametrize("fault, message", [("oom_kill", "OOMKilled.*raise k8s.runtime_memory"),
                                            ("evict", "evicted by its node: The node was low on resource")])
def test_oom_killed_or_evicted_pod(cluster: Any, storage_root: str, fault: str, message: str) -> None:
    config = make_config(cluster, storage_root)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_sleep_unless, [(0, 0), (1, 0)])
        _wait_started(fexec, futures[0])
        getattr(cluster, fault)("lithops", _pod_of_index(cluster, _job_name(futures[0]), 0))
        with pytest.raises(WorkerDiedError, match=message):
            futures[0].result(timeout=30)
        assert futures[1].result(timeout=30) == 1


def test_runtime_timeout_stops_the_pods_calls_with_their_statuses(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, runtime_timeout=10)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_sleep_unless, [(0, 0), (1, 0)], chunksize=2)  # one pod, its first call never ends
        start = time.monotonic()
        with pytest.raises(FunctionTimeoutError, match=r"pod reached its timeout.*Raise k8s\.runtime_timeout"):
            futures[0].result(timeout=60)
        with pytest.raises(FunctionTimeoutError):
            futures[1].result(timeout=10)  # queued behind it in the same pod: stopped with it, not lost
        assert time.monotonic() - start < 30


def test_image_pull_backoff_is_surfaced_within_a_poll_interval(cluster: Any, storage_root: str) -> None:
    image = "registry.example.com/lithops/missing:1"
    config = make_config(cluster, storage_root, runtime=image)
    start = time.monotonic()
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"ImagePullBackOff.*lithops runtime build -b k8s .*Nothing was sent"):
            fexec.map(lambda x: x, range(2))
    assert time.monotonic() - start < 10


def test_image_gone_after_the_check_fails_the_job_within_a_poll(cluster: Any, storage_root: str) -> None:
    image = "registry.example.com/lithops/soon-gone:1"
    cluster.images[image] = sys.executable
    config = make_config(cluster, storage_root, runtime=image)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(lambda x: x, range(2)).get_result(timeout=60) == [0, 1]
        del cluster.images[image]  # deleted from the registry
        futures = fexec.map(lambda x: x, range(2))
        start = time.monotonic()
        with pytest.raises(WorkerDiedError, match="ImagePullBackOff"):
            futures[0].result(timeout=30)
        assert time.monotonic() - start < 5
        with pytest.raises(WorkerDiedError):
            futures[1].result(timeout=5)
        deadline = time.monotonic() + 10
        while ("Job", "lithops", _job_name(futures[0])) in cluster.objects:
            assert time.monotonic() < deadline, "the stuck Job is deleted"
            time.sleep(0.05)


def test_runtime_of_another_python_is_refused_before_anything_is_sent(cluster: Any, storage_root: str,
                                                                      tmp_path: Any) -> None:
    fake_python = tmp_path / "python3.8"
    fake_python.write_text('#!/bin/sh\necho \'{"python_version": "3.8", "lithops_version": "4.0.0", "protocol": 1}\'\n')
    fake_python.chmod(fake_python.stat().st_mode | stat.S_IEXEC)
    image = "registry.example.com/lithops/py38:1"
    cluster.images[image] = str(fake_python)
    config = make_config(cluster, storage_root, runtime=image)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"runs Python 3\.8, but this client runs Python 3\.\d+.*Nothing was"):
            fexec.map(lambda x: x, range(2))


def test_no_kubeconfig_is_a_clear_error(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root)
    del config["k8s"]["kubecfg_path"]  # and $KUBECONFIG names a missing file (conftest)
    with pytest.raises(ConfigError, match=r"no kubeconfig found .*KUBECONFIG.*kubecfg_path"):
        FunctionExecutor(config=config, log_level=None)


def test_in_a_pod_without_a_usable_service_account(cluster: Any, storage_root: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    config = make_config(cluster, storage_root)
    del config["k8s"]["kubecfg_path"]
    with pytest.raises(ConfigError, match="running in a pod, but its service account cannot be used"):
        FunctionExecutor(config=config, log_level=None)


def test_kubeconfig_from_the_environment_and_its_context_namespace(cluster: Any, storage_root: str, tmp_path: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", cluster.write_kubeconfig(str(tmp_path / "kc"), namespace="default"))
    config = make_config(cluster, storage_root)
    del config["k8s"]["kubecfg_path"], config["k8s"]["namespace"]
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.compute.namespace == "default"
        assert fexec.map(lambda x: -x, range(3)).get_result(timeout=60) == [0, -1, -2]


def test_kubeconfig_in_the_home_folder(cluster: Any, storage_root: str, tmp_path: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".kube").mkdir()
    cluster.write_kubeconfig(str(tmp_path / ".kube" / "config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG")
    config = make_config(cluster, storage_root)
    del config["k8s"]["kubecfg_path"]
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.compute.cluster.where == f"context fake of {tmp_path / '.kube' / 'config'}"


def test_unknown_context_lists_the_known_ones(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, kubecfg_context="production")
    with pytest.raises(ConfigError, match=r"kubecfg_context is 'production'.*Its contexts: fake"):
        FunctionExecutor(config=config, log_level=None)


def test_rbac_refusal_names_the_role_it_needs(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, runtime="registry.example.com/lithops/other:1")
    cluster.denied.add(("create", "jobs.batch", "lithops"))
    try:
        with FunctionExecutor(config=config, log_level=None) as fexec:
            with pytest.raises(BackendError, match=r'(?s)cannot create resource "jobs" in API group "batch".*'
                                                   r'kind: Role.*resources: \[jobs\]'):
                fexec.map(lambda x: x, range(2))
    finally:
        cluster.denied.clear()


def test_missing_namespace(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, namespace="nowhere")
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r'namespaces "nowhere" not found.*kubectl create namespace nowhere'):
            fexec.map(lambda x: x, range(2))


def test_api_server_down_is_a_clear_error_without_a_hang(storage_root: str, tmp_path: Any, cluster: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "down"
    kubeconfig.write_text(cluster.write_kubeconfig(str(kubeconfig)) and
                          kubeconfig.read_text().replace(cluster.url, f"http://127.0.0.1:{port}"))
    config = make_config(cluster, storage_root, kubecfg_path=str(kubeconfig))
    start = time.monotonic()
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=rf"cannot reach the Kubernetes API server at http://127.0.0.1:{port}"):
            fexec.map(lambda x: x, range(2))
    assert time.monotonic() - start < 30


def test_pod_security_restricted(cluster: Any, storage_root: str) -> None:
    """A namespace that enforces "restricted" refuses the baseline pods, with the admission message and the fix;
    pod_security: restricted passes."""
    image = "registry.example.com/lithops/restricted:1"  # not checked yet: its metadata pod is the first pod
    cluster.images[image] = sys.executable
    config = make_config(cluster, storage_root, namespace="locked", runtime=image)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r'violates PodSecurity "restricted:latest": runAsNonRoot != true.*'
                                               r"set k8s.pod_security to 'restricted'"):
            fexec.map(lambda x: x, range(2))
    config = make_config(cluster, storage_root, namespace="locked", runtime=image, pod_security="restricted")
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(lambda x: x * 3, range(3)).get_result(timeout=60) == [0, 3, 6]


def test_quota_exceeded_fails_the_job_nothing_hangs(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(lambda x: x, range(1)).get_result(timeout=60) == [0]  # the runtime is checked
        cluster.pod_quota["lithops"] = 0
        try:
            futures = fexec.map(lambda x: x, range(3))
            with pytest.raises(WorkerDiedError, match=r"exceeded quota.*raise the namespace's ResourceQuota"):
                futures[0].result(timeout=30)
        finally:
            cluster.pod_quota.clear()


def test_max_workers_bounds_the_pods_running_at_once(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, max_workers=2)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_sleep_unless, [(i, -1) for i in range(6)], chunksize=1)
        name = _job_name(futures[0])
        seen = 0
        while not all(f.done for f in futures):
            running = [p for p in cluster.job_pods("lithops", name) if p.obj["status"]["phase"] == "Running"]
            seen = max(seen, len(running))
            time.sleep(0.05)
        assert fexec.get_result(futures) == list(range(6))
        job = _stored_job(cluster, name)
        assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (2, 2) and seen <= 2


def _started_at(x: int) -> float:
    start = time.time()
    time.sleep(1)
    return start


def test_worker_processes_run_calls_of_one_pod_at_once(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, max_workers=1, worker_processes=4)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_started_at, range(4))
        starts = fexec.get_result(futures, timeout=60)
        assert len(cluster.job_pods("lithops", _job_name(futures[0]))) == 1
        assert max(starts) - min(starts) < 0.9, "the four 1 s calls of the one pod ran side by side"


def test_lithops_clean_deletes_the_jobs_a_crashed_client_left(cluster: Any, storage_root: str, tmp_path: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import subprocess

    from click.testing import CliRunner

    from lithops.cli.main import cli

    config = make_config(cluster, storage_root)
    crash = ("import json, os, sys, time\nimport lithops\n"
             f"fexec = lithops.FunctionExecutor(config=json.loads({json.dumps(config)!r}), log_level=None)\n"
             "fexec.map(time.sleep, [60, 60])\nprint(fexec.executor_id, flush=True)\nos._exit(0)\n")
    executor_id = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=120,
                                 check=True).stdout.split()[-1]
    left = [n for (kind, ns, n), job in list(cluster.objects.items())
            if kind == "Job" and job["metadata"]["labels"].get(EXECUTOR_LABEL) == executor_id]
    assert len(left) == 1, "the crashed client left its Job"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(config_file))
    result = CliRunner().invoke(cli, ["clean"])
    assert result.exit_code == 0, result.output
    assert f"Job(s) and their pods from namespace lithops: {left[0]}" in result.output
    assert ("Job", "lithops", left[0]) not in cluster.objects and not cluster.job_pods("lithops", left[0])


def test_pods_no_node_can_take_are_reported_not_waited_for_silently(cluster: Any, storage_root: str,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """runtime_arch arm64 on a cluster of amd64 nodes: the scheduler leaves the pods Pending (Unschedulable). A
    cluster autoscaler might add such a node, so the backend waits, but says why at once; the runtime check gives
    up with the scheduler's message."""
    import lithops_kubernetes.k8s.backend as k8s_backend

    def warned() -> bool:
        return any("cannot be scheduled yet" in r.getMessage() and "didn't match" in r.getMessage()
                   for r in caplog.records if r.levelname == "WARNING")

    checked = make_config(cluster, storage_root)
    with FunctionExecutor(config=checked, log_level=None) as fexec:
        assert fexec.map(lambda x: x, range(1)).get_result(timeout=60) == [0]  # the runtime is checked
    with FunctionExecutor(config={**checked, "k8s": {**checked["k8s"], "runtime_arch": "arm64"}},
                          log_level=None) as fexec:
        fexec.map(lambda x: x, range(2))
        deadline = time.monotonic() + 10
        while not warned():
            assert time.monotonic() < deadline, "no warning about the pods that cannot be scheduled"
            time.sleep(0.05)
    caplog.clear()
    monkeypatch.setattr(k8s_backend, "METADATA_TIMEOUT", 3.0)
    image = "registry.example.com/lithops/arm-only:1"
    cluster.images[image] = sys.executable
    config = make_config(cluster, storage_root, runtime=image, runtime_arch="arm64")
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"did not start within 3 s: .*didn't match Pod's node affinity/sel"):
            fexec.map(lambda x: x, range(2))
    assert warned()
