"""Test kit of lithops-kubernetes: a local Kubernetes API server and cluster (:class:`FakeKubernetes`)."""

from lithops_kubernetes.testing.fake_api import FakeKubernetes

__all__ = ["FakeKubernetes"]
