"""Fixtures of the lithops-kubernetes tests: one local Kubernetes API server and cluster per session
(:class:`~lithops_kubernetes.testing.FakeKubernetes`), a kubeconfig pointing at it, and localhost storage in a
folder that the "pods" (local processes) share with the client."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lithops.backends.runtime import CLIENT_PYTHON
from lithops.testing import isolate_from_user_config
from lithops_kubernetes.testing import FakeKubernetes

#: The image the fake cluster can pull: our worker code on this machine's Python.
IMAGE = f"registry.example.com/lithops/worker:py{CLIENT_PYTHON}"


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Keep a developer's own Lithops config, kubeconfig and job log out of the tests."""
    isolate_from_user_config(monkeypatch, tmp_path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKubernetes]:
    """The fake cluster, shared by the session (namespaces ``default``, ``lithops`` and ``locked``, which
    enforces the "restricted" Pod Security Standard)."""
    fake = FakeKubernetes(images={IMAGE: sys.executable}, namespaces={
        "default": {}, "lithops": {},
        "locked": {"pod-security.kubernetes.io/enforce": "restricted"}})
    fake.start()
    fake.kubeconfig = fake.write_kubeconfig(str(tmp_path_factory.mktemp("kube") / "config"))  # type: ignore[attr-defined]
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def storage_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Localhost storage the client and the pods share."""
    return str(tmp_path_factory.mktemp("storage"))


def make_config(cluster: FakeKubernetes, storage_root: str, backend: str = "k8s", **section: Any) -> dict[str, Any]:
    """A full Lithops config running ``backend`` on the fake cluster with localhost storage."""
    return {
        "lithops": {"backend": backend, "storage": "localhost", "monitoring_interval": 0.1},
        "localhost": {"storage_root": storage_root, "storage_bucket": "lithops-k8s-tests"},
        backend: {"kubecfg_path": cluster.kubeconfig, "runtime": IMAGE,  # type: ignore[attr-defined]
                  "namespace": "lithops", "max_workers": 4, **section},
    }


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names."""
    return uuid.uuid4().hex[:6]
