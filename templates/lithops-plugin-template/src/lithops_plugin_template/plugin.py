"""What Lithops imports to find this plugin's backends: hook implementations returning specs, nothing else.

Keep this module cheap to import (no SDK): it is loaded whenever Lithops looks for backends. The classes are
named by import string and imported only when a user selects the backend.
"""

from __future__ import annotations

from lithops.plugins import ComputeBackendSpec, ConfigKey, StorageBackendSpec, hookimpl

#: The Lithops plugin API this plugin is written for (lithops-core refuses plugins of an API it does not know).
LITHOPS_PLUGIN_API = "1"

#: Keys of the ``template`` config section (the compute backend's).
COMPUTE_CONFIG = {
    "max_workers": ConfigKey(type=int, default=4, minimum=1, doc="calls that run at once (threads)"),
}

#: Keys of the ``template_storage`` config section.
STORAGE_CONFIG = {
    "storage_bucket": ConfigKey(type=str, default="lithops-template", doc="bucket for Lithops' own objects"),
    "api_token": ConfigKey(type=(str, type(None)), default=None, secret=True,
                           doc="an example credential: masked by 'lithops config show'"),
}


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``template`` compute backend."""
    return [
        ComputeBackendSpec(
            name="template",
            mode="serverless",
            backend="lithops_plugin_template.compute:TemplateBackend",
            config=COMPUTE_CONFIG,
            default_storage="template_storage",
            description="runs calls in a thread pool of this process (a plugin template)",
        )
    ]


@hookimpl
def lithops_storage_backends() -> list[StorageBackendSpec]:
    """The ``template_storage`` storage backend."""
    return [
        StorageBackendSpec(
            name="template_storage",
            backend="lithops_plugin_template.storage:MemoryStorage",
            config=STORAGE_CONFIG,
            url_schemes=("template",),  # map(f, "template://bucket/key") reads through this backend
            description="objects in this process's memory (a plugin template)",
        )
    ]
