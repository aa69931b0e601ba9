"""A well-behaved plugin with one compute and one storage backend."""

from lithops.plugins import ComputeBackendSpec, ConfigKey, StorageBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(name="fakecloud", mode="serverless", backend="fake_backends:FakeCompute",
                               config={"region": ConfigKey(type=str, default="eu", doc="region")},
                               default_storage="fakestore")]


@hookimpl
def lithops_storage_backends():
    return [StorageBackendSpec(name="fakestore", backend="fake_backends:FakeStorage")]
