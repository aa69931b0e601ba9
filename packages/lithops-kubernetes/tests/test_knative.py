"""The ``knative`` backend on the fake cluster: the Service it deploys, requests through the ingress, a killed
instance, an image Knative cannot fetch, what Knative's webhook refuses, and the runtime builder."""

from __future__ import annotations

import stat
import sys
import time
from typing import Any

import pytest

from conftest import make_config
from lithops import FunctionExecutor
from lithops.errors import BackendError, ConfigError, WorkerDiedError
from lithops.worker.handler import started_key
from lithops_kubernetes.knative.runtime import KnativeRuntimeBuilder


def _sleep_unless(x: int, slow: int = -1) -> int:
    time.sleep(60 if x == slow else 0.2)
    return x


def _ksvc(cluster: Any, fexec: FunctionExecutor) -> dict[str, Any]:
    name = fexec.compute.service_name(fexec.compute.config["runtime_memory"])
    return cluster.objects[("KService", "lithops", name)]


def test_service_as_knative_stores_it_and_requests_go_through_the_ingress(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative", min_instances=1, max_instances=7,
                         runtime_memory=256, runtime_timeout=300)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(lambda x: x * 5, range(6)).get_result(timeout=60) == [0, 5, 10, 15, 20, 25]
        svc = _ksvc(cluster, fexec)
    template = svc["spec"]["template"]
    assert template["metadata"]["annotations"] == {"autoscaling.knative.dev/min-scale": "1",
                                                   "autoscaling.knative.dev/max-scale": "7"}
    spec = template["spec"]
    assert (spec["containerConcurrency"], spec["timeoutSeconds"]) == (1, 300)
    container = spec["containers"][0]
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                            "seccompProfile": {"type": "RuntimeDefault"}}
    assert any(e["name"] == "LITHOPS_HTTP_TOKEN" and len(e["value"]) == 32 for e in container["env"])
    assert ("GET", "/api/v1/namespaces/kourier-system/services/kourier") in cluster.requests


def test_a_second_executor_reuses_the_service_and_a_config_change_updates_it(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative", runtime_memory=384)
    for _ in range(2):
        with FunctionExecutor(config=config, log_level=None) as fexec:
            assert fexec.call_async(lambda x: x + 1, 1).result(timeout=60) == 2
            assert _ksvc(cluster, fexec)["metadata"]["generation"] == 1
    config["knative"]["runtime_timeout"] = 120
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(lambda x: x + 1, 2).result(timeout=60) == 3
        svc = _ksvc(cluster, fexec)
        assert (svc["metadata"]["generation"], svc["spec"]["template"]["spec"]["timeoutSeconds"]) == (2, 120)


def test_killed_instance_fails_its_call_in_seconds_and_keeps_the_rest(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative")
    with FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_sleep_unless, [(i, 1) for i in range(4)])
        assert [futures[i].result(timeout=30) for i in (0, 2, 3)] == [0, 2, 3]
        storage, f = fexec.storage, futures[1]
        key = started_key(f.executor_id, f.job_id, f.call_id)
        deadline = time.monotonic() + 30
        while key not in storage.list_keys(storage.bucket, key):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        start = time.monotonic()
        cluster.kill_revision("lithops", fexec.compute.service_name(fexec.compute.config["runtime_memory"]))
        with pytest.raises(WorkerDiedError, match="answered 502"):
            f.result(timeout=30)
        assert time.monotonic() - start < 10
        # Knative starts a new instance: the Service keeps serving
        assert fexec.map(lambda x: x, range(2)).get_result(timeout=60) == [0, 1]


def test_image_knative_cannot_fetch_is_knatives_message(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative", runtime="registry.example.com/lithops/none:1")
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"is not Ready: RevisionMissing: .*Unable to fetch image .*"
                                               r"lithops runtime build -b knative.*Nothing was sent"):
            fexec.map(lambda x: x, range(2))


def test_knative_webhook_refusal_is_passed_on(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative", runtime_timeout=900)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"expected 0 <= 900 <= 600: spec.template.spec.timeoutSeconds"):
            fexec.map(lambda x: x, range(2))


def test_bad_scale_settings_are_a_config_error(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative", min_instances=5, max_instances=2)
    with pytest.raises(ConfigError, match=r"min_instances \(5\) is more than max_instances \(2\)"):
        FunctionExecutor(config=config, log_level=None)


def test_ingress_endpoint_or_a_clear_error(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative", networking_layer="istio")
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r'services "istio-ingressgateway" not found.*'
                                               r"set knative.ingress_endpoint"):
            fexec.map(lambda x: x, range(2))
    port = cluster.objects[("Service", "kourier-system", "kourier")]["spec"]["ports"][0]["port"]
    config["knative"]["ingress_endpoint"] = f"http://127.0.0.1:{port}"
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(lambda x: x, range(2)).get_result(timeout=60) == [0, 1]


def test_runtime_of_another_python_is_refused(cluster: Any, storage_root: str, tmp_path: Any) -> None:
    server = tmp_path / "python3.8"
    server.write_text(f"""#!/bin/sh
exec {sys.executable} -c '
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps({{"python_version": "3.8"}}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
        self.wfile.write(data)
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'
""")
    server.chmod(server.stat().st_mode | stat.S_IEXEC)
    image = "registry.example.com/lithops/kn-py38:1"
    cluster.images[image] = str(server)
    config = make_config(cluster, storage_root, backend="knative", runtime=image)
    with FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"runs Python 3\.8, but this client runs Python .*Nothing was sent"):
            fexec.map(lambda x: x, range(2))


def test_runtime_builder_deploys_lists_and_deletes(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative")
    builder = KnativeRuntimeBuilder(config["knative"], config)
    image = config["knative"]["runtime"]
    deployed = builder.deploy(image, memory=640)
    assert deployed["memory"] == 640 and deployed["host"].endswith(".lithops.example.com")
    assert deployed["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert {"runtime_name": image, "memory": 640} in [{k: r[k] for k in ("runtime_name", "memory")}
                                                     for r in builder.list()]
    builder.delete(image, 640)
    assert all(r["memory"] != 640 for r in builder.list())
    assert ("KService", "lithops", deployed["service"]) not in cluster.objects


def test_rbac_refusal_names_the_role_it_needs(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, backend="knative", runtime_memory=768)
    cluster.denied.add(("get", "services.serving.knative.dev", "lithops"))
    try:
        with FunctionExecutor(config=config, log_level=None) as fexec:
            with pytest.raises(BackendError, match=r'(?s)cannot get resource "services" in API group '
                                                   r'"serving.knative.dev".*kind: Role.*apiGroups: \["serving'):
                fexec.map(lambda x: x, range(2))
    finally:
        cluster.denied.clear()
