"""The plugin system: hook specs, typed specs and the registry that finds installed backends."""

from lithops.plugins.hookspecs import hookimpl, hookspec
from lithops.plugins.manager import PluginRegistry, get_registry, reset_registry
from lithops.plugins.specs import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, StorageBackendSpec

__all__ = [
    "ComputeBackendSpec",
    "ConfigKey",
    "PluginRegistry",
    "RuntimeBuilderSpec",
    "StorageBackendSpec",
    "get_registry",
    "hookimpl",
    "hookspec",
    "reset_registry",
]
