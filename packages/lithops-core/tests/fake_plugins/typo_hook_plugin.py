"""A misspelt hook (decorated), and a real hook name left undecorated: neither is ever called."""

from lithops.plugins import ComputeBackendSpec, StorageBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_compute_backend():
    return [ComputeBackendSpec(name="typocloud", mode="serverless", backend="fake_backends:FakeCompute")]


def lithops_storage_backends():
    return [StorageBackendSpec(name="typostore", backend="fake_backends:FakeStorage")]
