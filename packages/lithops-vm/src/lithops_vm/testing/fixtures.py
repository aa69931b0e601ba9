"""Pytest fixtures and helpers the tests of cloud VM providers share (aws_ec2, gcp_compute_engine, azure_vms,
ibm_vpc): the namespace hosts that play the VMs, and a runtime of another Python version.

A test module takes the hosts with ``network = namespace_hosts("EC2 instances")``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lithops_vm.testing.netns import HostNetwork, host_network, unavailable_reason

#: Pythons of other versions this machine may have (pyenv's), looked for by :func:`other_python_runtime`.
OTHER_PYTHONS = tuple(f"/root/.pyenv/versions/{v}/bin/python3" for v in ("3.12.1", "3.13.0", "3.10.13"))


def namespace_hosts(what: str, count: int = 3) -> Callable[..., Any]:
    """A module-scoped ``network`` fixture: ``count`` namespace hosts (a
    :class:`~lithops_vm.testing.netns.HostNetwork`) to play ``what``, torn down after the module; the tests are
    skipped where namespace hosts cannot be made (not root, no ``ip netns`` or sshd).
    """

    def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostNetwork]:
        reason = unavailable_reason()
        if reason:
            pytest.skip(reason)
        with host_network(str(tmp_path_factory.mktemp("hosts")), count) as net:
            yield net

    network.__doc__ = f"{count} namespace hosts to play {what}."
    return pytest.fixture(scope="module", name="network")(network)


def other_python_runtime(folder: Path) -> str:
    """A runtime (a script in ``folder``) running a Python of another ``major.minor`` than this one's, with this
    Python's pure-Python packages on its path (the storage SDKs the agent reports through); the test is skipped
    where this machine has none.
    """
    client = "{}.{}.".format(*sys.version_info[:2])
    other = next((p for p in OTHER_PYTHONS if client not in p and os.path.exists(p)), None)
    if other is None:
        pytest.skip("no Python of another version on this machine")
    site = next(p for p in sys.path if p.endswith("site-packages"))
    runtime = folder / "other-python"
    runtime.write_text(f'#!/bin/sh\nPYTHONPATH="$PYTHONPATH:{site}" exec {other} "$@"\n')
    runtime.chmod(0o755)
    return str(runtime)
