"""The ``standalone:`` config keys of Lithops 3.x, shared by every standalone backend.

A standalone backend's spec puts :data:`STANDALONE_CONFIG` in its schema and declares ``shared_sections=
("standalone",)``: a key set in the ``standalone`` section applies to every standalone backend, a key in the
backend's own section wins over it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from lithops.plugins.specs import ConfigKey

#: The ``exec_mode`` values: use the VMs named in the config, make VMs for one executor, keep a cluster.
EXEC_MODES = ("consume", "create", "reuse")
#: The ``workers_policy`` values: go on with the VMs that came up, or fail unless every VM did.
WORKERS_POLICIES = ("permissive", "strict")


def check_cidr(value: Any) -> str | None:
    """A :class:`ConfigKey` check of an address range such as ``203.0.113.7/32`` (e.g. a provider's
    ``ssh_allowed_cidr``): None when it is one, else what is wrong.
    """
    import ipaddress

    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"is {value!r}; it must be an address range such as 203.0.113.7/32"
    return None


def _check_worker_processes(value: Any) -> str | None:
    if isinstance(value, str) and value.upper() != "AUTO":
        return f"is {value!r}; it must be a whole number of processes per VM, or AUTO (one per CPU of the VM)"
    if isinstance(value, int) and not isinstance(value, bool) and value < 1:
        return f"is {value}; it must be at least 1, or AUTO"
    return None


def _check_list_of_names(value: Any) -> str | None:
    if not all(isinstance(v, str) and v.strip() for v in value):
        return f"is {value!r}; it must be a list of package names"
    return None


STANDALONE_CONFIG: dict[str, ConfigKey] = {
    "exec_mode": ConfigKey(type=str, default="reuse", choices=EXEC_MODES,
                           doc="consume: the VMs the config names; create: VMs made for one executor and deleted "
                               "when it closes; reuse: a cluster kept between executors"),
    "workers_policy": ConfigKey(type=str, default="permissive", choices=WORKERS_POLICIES,
                                doc="permissive: run on the VMs that came up (fail only when none did); strict: "
                                    "fail unless every VM asked for came up"),
    "worker_processes": ConfigKey(type=(int, str), default="AUTO", check=_check_worker_processes,
                                  doc="calls run at once on each VM; AUTO: one per CPU of the VM"),
    "auto_dismantle": ConfigKey(type=bool, default=True,
                                doc="stop the agent (and the VM, where the backend owns it) after the idle timeouts"),
    "soft_dismantle_timeout": ConfigKey(type=(int, float), default=300, minimum=1,
                                        doc="seconds without work after which the agent stops"),
    "hard_dismantle_timeout": ConfigKey(type=(int, float), default=3600, minimum=1,
                                        doc="seconds after start after which the agent stops, once idle"),
    "start_timeout": ConfigKey(type=(int, float), default=300, minimum=1,
                               doc="seconds to wait for a VM and its agent to come up"),
    "ssh_username": ConfigKey(type=str, default="ubuntu", doc="login on the VMs"),
    "ssh_key_filename": ConfigKey(type=(str, type(None)), default=None,
                                  doc="private key file for ssh_username (default: ~/.ssh keys and the SSH agent)"),
    "ssh_port": ConfigKey(type=int, default=22, minimum=1, doc="the VMs' SSH port"),
    "runtime": ConfigKey(type=str, default="python3",
                         doc="the Python interpreter on the VM (its major.minor must be the client's)"),
    "extra_apt_packages": ConfigKey(type=list, default=[], check=_check_list_of_names,
                                    doc="Debian/Ubuntu packages installed on the VM before the agent starts"),
    "extra_python_packages": ConfigKey(type=list, default=[], check=_check_list_of_names,
                                       doc="pip packages installed for the agent's Python before it starts"),
}


def worker_processes(config: Mapping[str, Any], cpus: int | None = None) -> int:
    """The number of worker processes for a VM with ``cpus`` CPUs (``AUTO``: one per CPU; this machine's
    CPU count when ``cpus`` is None).
    """
    value = config.get("worker_processes", "AUTO")
    if isinstance(value, str):
        return max(1, int(cpus or os.cpu_count() or 1))
    return int(value)
