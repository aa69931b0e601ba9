"""Registers the ``vm`` compute backend with Lithops."""

from __future__ import annotations

from typing import Any

from lithops.plugins import ComputeBackendSpec, ConfigKey, hookimpl
from lithops.standalone.config import STANDALONE_CONFIG

#: The Lithops plugin API this plugin is written for.
LITHOPS_PLUGIN_API = "1"


def _check_hosts(value: Any) -> str | None:
    for n, host in enumerate(value):
        if not isinstance(host, dict) or not host.get("ip_address"):
            return f"entry {n} is {host!r}; each entry must be a mapping with at least ip_address"
        unknown = set(host) - set(HOST_KEYS)
        if unknown:
            return f"entry {n} has unknown keys {sorted(unknown)}; allowed: {', '.join(HOST_KEYS)}"
    return None


#: Keys that a ``hosts`` entry may set for its host.
HOST_KEYS = ("ip_address", "ssh_username", "ssh_password", "ssh_key_filename", "ssh_port", "runtime",
             "worker_processes")

VM_CONFIG: dict[str, ConfigKey] = {
    **STANDALONE_CONFIG,
    "ip_address": ConfigKey(type=(str, type(None)), default=None,
                            doc="the host's address (or use hosts for several)"),
    "ssh_username": ConfigKey(type=str, default="root", doc="login on the host(s)"),
    "ssh_password": ConfigKey(type=(str, type(None)), default=None, secret=True, doc="password for ssh_username"),
    "ssh_key_filename": ConfigKey(type=(str, type(None)), default=None,
                                  doc="private key file for ssh_username (default: ~/.ssh keys and the SSH agent)"),
    "ssh_port": ConfigKey(type=int, default=22, minimum=1, doc="the hosts' SSH port"),
    "hosts": ConfigKey(type=list, default=[], check=_check_hosts,
                       doc="several hosts: a list of mappings with ip_address and optionally ssh_username, "
                           "ssh_password, ssh_key_filename, ssh_port, runtime, worker_processes"),
    "install_dir": ConfigKey(type=str, default=".lithops-vm",
                             doc="folder on the hosts for Lithops's code and agent (relative: in the login's home)"),
    "auto_dismantle": ConfigKey(type=bool, default=False,
                                doc="stop the agent after the idle timeouts (the hosts stay up)"),
}


@hookimpl
def lithops_compute_backends() -> list[ComputeBackendSpec]:
    """The ``vm`` compute backend."""
    return [
        ComputeBackendSpec(
            name="vm",
            mode="standalone",
            backend="lithops_vm.backend:VMBackend",
            config=VM_CONFIG,
            default_storage="localhost",
            shared_sections=("standalone",),
            description="standalone mode on existing hosts over SSH",
        )
    ]
