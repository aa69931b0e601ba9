"""Registers a storage backend whose name good_plugin already uses."""

from lithops.plugins import StorageBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_storage_backends():
    return [StorageBackendSpec(name="fakestore", backend="fake_backends:FakeStorage")]
