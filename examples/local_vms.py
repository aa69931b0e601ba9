"""What the VM examples (gcp_compute_engine_map.py, azure_vms_map.py, ibm_vpc_map.py) share: their command line and,
with --local, the network-namespace hosts that play the VMs (lithops-vm's test hosts; needs root)."""

import argparse
import contextlib
import sys


def vm_arguments(doc, cloud):
    """The parser of a VM example: --exec-mode and --local (the local stand-ins instead of ``cloud``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--exec-mode", default="reuse", choices=("create", "reuse"))
    parser.add_argument("--local", action="store_true", help=f"use the local stand-ins instead of {cloud}")
    return parser


@contextlib.contextmanager
def namespace_hosts(folder, count=2):
    """``count`` network-namespace hosts on one bridge (its address: ``network.gateway``), removed at the end."""
    from lithops_vm.testing.netns import host_network, unavailable_reason

    reason = unavailable_reason()
    if reason:
        sys.exit(f"--local needs network namespaces: {reason}")
    with host_network(folder, count) as network:
        yield network
