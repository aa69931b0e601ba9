"""Declares no plugin API: loaded as API 1."""

from lithops.plugins import StorageBackendSpec, hookimpl


@hookimpl
def lithops_storage_backends():
    return [StorageBackendSpec(name="oldstore", backend="fake_backends:FakeStorage")]
