"""Its compute hook raises, its storage hook works."""

from lithops.plugins import StorageBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_compute_backends():
    raise RuntimeError("hook exploded")


@hookimpl
def lithops_storage_backends():
    return [StorageBackendSpec(name="survivor", backend="fake_backends:FakeStorage")]
