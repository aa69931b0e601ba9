"""The ``vm`` compute backend: Lithops's standalone agent on hosts you already have, installed over SSH."""

from __future__ import annotations

from lithops.standalone.backend import StandaloneBackend
from lithops_vm.plugin import VM_CONFIG
from lithops_vm.ssh import SSHHosts


class VMBackend(StandaloneBackend):
    """Runs calls on the hosts of the ``vm`` section (see docs/backends/vm.md)."""

    provider_class = SSHHosts
    config_schema = VM_CONFIG
    section = "vm"
    on_dismantle = "exit"
    fixed_vms = True
    install_dir = ".lithops-vm"
