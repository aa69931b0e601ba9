"""The plugin system: hook specs, typed specs and the registry that finds installed backends."""

from lithops.plugins.hookspecs import PLUGIN_API, hookimpl, hookspec
from lithops.plugins.manager import PluginRegistry, get_registry, reset_registry
from lithops.plugins.specs import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, StorageBackendSpec

__all__ = [
    "PLUGIN_API",
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
