"""Backends whose classes cannot serve: one is no StorageBackend, one leaves an abstract method out."""

from lithops.plugins import ComputeBackendSpec, StorageBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_storage_backends():
    return [StorageBackendSpec(name="notastore", backend="fake_backends:FakeCompute"),
            StorageBackendSpec(name="halfstore", backend="fake_backends:HalfStorage")]


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(name="halfcloud", mode="serverless", backend="fake_backends:HalfCompute")]
