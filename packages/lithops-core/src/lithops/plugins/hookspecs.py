"""The registration hooks a plugin implements.

A plugin is a module named by an entry point of group ``lithops``. It implements any of these hooks with
:data:`hookimpl`; each returns specs (or CLI commands), never performs operations (operations live on the
backend classes). The module also declares the plugin API it was written for, :data:`PLUGIN_API`::

    LITHOPS_PLUGIN_API = "1"

    from lithops.plugins import hookimpl, ComputeBackendSpec

    @hookimpl
    def lithops_compute_backends():
        return [ComputeBackendSpec(name="foo", mode="serverless", backend="lithops_foo.compute:FooBackend")]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from lithops.plugins.specs import ComputeBackendSpec, RuntimeBuilderSpec, StorageBackendSpec

PROJECT = "lithops"
#: The plugin API this lithops-core implements: the hooks, the spec fields and the backend base classes' required
#: methods. A plugin declares the one it was written for as ``LITHOPS_PLUGIN_API`` in its plugin module.
PLUGIN_API = "1"
#: Plugin APIs whose plugins this lithops-core loads.
SUPPORTED_PLUGIN_APIS = ("1",)
#: Name of the plugin module's declaration of its plugin API.
PLUGIN_API_ATTRIBUTE = "LITHOPS_PLUGIN_API"
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


@hookspec
def lithops_cli_commands() -> Iterable[Any]:  # type: ignore[empty-body]
    """Return ``click`` commands or groups to add to the ``lithops`` command line (loaded when the CLI needs
    them; a name the CLI already has is refused).
    """
