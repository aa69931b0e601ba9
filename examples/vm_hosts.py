"""Run functions on hosts you already have, over SSH, with the ``vm`` backend (lithops-vm).

    pip install ./packages/lithops-core ./packages/lithops-localhost ./packages/lithops-vm
    python examples/vm_hosts.py HOST [HOST ...] --user USER --key ~/.ssh/id_ed25519 --storage-root /shared/folder

Each HOST needs sshd and a Python with the same major.minor as this client (Lithops checks and says what to
do otherwise). Storage must be reachable from the hosts: here localhost storage in a folder they share with this
machine (an NFS mount, or this machine itself); with a cloud, use its storage (e.g. aws_s3 from lithops-aws).
Without arguments the example makes two SSH hosts on this machine (network namespaces; needs root, ``ip netns``
and ``/usr/sbin/sshd``) and runs on them.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import lithops


def square(x: int) -> int:
    return x * x


def total(results: list[int]) -> int:
    return sum(results)


def run(config: dict) -> None:
    with lithops.FunctionExecutor(config=config) as fexec:
        print("map:", fexec.map(square, range(8)).get_result())
        print("map_reduce:", fexec.map_reduce(square, range(100), total).get_result())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts", nargs="*", help="host addresses (none: make two namespace hosts here)")
    parser.add_argument("--user", default="root", help="SSH login")
    parser.add_argument("--key", help="SSH private key file")
    parser.add_argument("--password", help="SSH password (instead of a key)")
    parser.add_argument("--storage-root", help="a folder the hosts and this machine share")
    args = parser.parse_args()
    if args.hosts:
        config = {"lithops": {"backend": "vm", "storage": "localhost"},
                  "vm": {"hosts": [{"ip_address": h} for h in args.hosts], "ssh_username": args.user,
                         "ssh_key_filename": args.key, "ssh_password": args.password},
                  "localhost": {"storage_root": args.storage_root or os.path.join(tempfile.gettempdir(), "lithops-vm")}}
        run(config)
        return
    from lithops_vm.testing.netns import HostNetwork, unavailable_reason, vm_config

    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"give host addresses, or run as root to make namespace hosts here ({reason})")
    folder = tempfile.mkdtemp(prefix="lithops-vm-example-")
    network = HostNetwork(folder)
    try:
        network.add_host()
        network.add_host()
        run(vm_config(network, folder))
    finally:
        network.close()


if __name__ == "__main__":
    main()
