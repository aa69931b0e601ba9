"""Registers the localhost compute and storage backends with Lithops."""

from __future__ import annotations

import os

from lithops.constants import TEMP_DIR
from lithops.plugins import ComputeBackendSpec, ConfigKey, StorageBackendSpec, hookimpl

#: The Lithops plugin API this plugin is written for (lithops-core refuses plugins of an API it does not know).
LITHOPS_PLUGIN_API = "1"

COMPUTE_CONFIG = {
    "runtime": ConfigKey(type=(str, type(None)), default=None,
                         doc="Python interpreter that runs the workers (default: the one running the client)"),
    "worker_processes": ConfigKey(type=(int, type(None)), default=None, minimum=1,
                                  doc="number of warm worker processes (default: one per CPU)"),
    "max_workers": ConfigKey(type=(int, type(None)), default=None, minimum=1,
                             doc="used as worker_processes when that is not set"),
    "runtime_memory": ConfigKey(type=(int, type(None)), default=None, doc="accepted for compatibility; not enforced"),
    "echo_output": ConfigKey(type=bool, default=True,
                             doc="copy what calls print to the client's stdout as they print it"),
}
STORAGE_CONFIG = {
    "storage_root": ConfigKey(type=str, default=os.path.join(TEMP_DIR, "storage"),
                              doc="folder that holds one sub-folder per bucket; kept private (0700), refused if "
                                  "another user owns it or can write it"),
    "storage_bucket": ConfigKey(type=str, default="storage", doc="default bucket (created if missing)"),
}


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``localhost`` compute backend."""
    return [
        ComputeBackendSpec(
            name="localhost",
            mode="localhost",
            backend="lithops_localhost.compute:LocalhostBackend",
            config=COMPUTE_CONFIG,
            default_storage="localhost",
            description="warm worker processes on this machine",
        )
    ]


@hookimpl
def lithops_storage_backends() -> list[StorageBackendSpec]:
    """The ``localhost`` storage backend."""
    return [
        StorageBackendSpec(
            name="localhost",
            backend="lithops_localhost.storage:LocalhostStorage",
            config=STORAGE_CONFIG,
            url_schemes=("localhost",),
            description="a folder per bucket on this machine",
        )
    ]
