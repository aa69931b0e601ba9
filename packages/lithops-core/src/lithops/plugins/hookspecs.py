"""The registration hooks a plugin implements.

A plugin is a module named by an entry point of group ``lithops``. It implements any of these hooks with
:data:`hookimpl`; each returns specs, never performs operations (operations live on the backend classes)::

    from lithops.plugins import hookimpl, ComputeBackendSpec

    @hookimpl
    def lithops_compute_backends():
        return [ComputeBackendSpec(name="foo", mode="serverless", backend="lithops_foo.compute:FooBackend")]
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from lithops.plugins.specs import ComputeBackendSpec, RuntimeBuilderSpec, StorageBackendSpec

PROJECT = "lithops"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def lithops_compute_backends() -> Iterable[ComputeBackendSpec]:  # type: ignore[empty-body]
    """Return the compute backends this plugin provides."""


@hookspec
def lithops_storage_backends() -> Iterable[StorageBackendSpec]:  # type: ignore[empty-body]
    """Return the storage backends this plugin provides."""


@hookspec
def lithops_runtime_builders() -> Iterable[RuntimeBuilderSpec]:  # type: ignore[empty-body]
    """Return the runtime builders this plugin provides."""
