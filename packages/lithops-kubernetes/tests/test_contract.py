"""The lithops.testing contract suites against the fake cluster: the plugin's registration, ``k8s`` and
``knative`` end to end (map, map_reduce, a data map over localhost storage, timeouts, worker death, cancel, ...)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import make_config
from lithops.testing import ComputeContract, PluginContract


class TestKubernetesPlugin(PluginContract):
    package = "lithops-kubernetes"
    compute_backends = {"k8s", "knative"}
    storage_backends: set[str] = set()


class TestK8sCompute(ComputeContract):
    """Indexed Jobs whose pods are local processes running the real entry point."""

    @pytest.fixture
    def config(self, cluster: Any, storage_root: str) -> dict[str, Any]:
        return make_config(cluster, storage_root)


class TestKnativeCompute(ComputeContract):
    """A Knative Service whose instance is a local process running the real HTTP worker, behind the ingress."""

    @pytest.fixture
    def config(self, cluster: Any, storage_root: str) -> dict[str, Any]:
        return make_config(cluster, storage_root, backend="knative")
