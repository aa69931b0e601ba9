"""Real SSH hosts on this machine: one Linux network namespace per host, each with its own sshd.

A bridge in the root namespace holds ``198.18.S.1/24``; each host gets a veth pair with ``198.18.S.(10+N)`` inside
its namespace and no default route, plus a blackhole route for ``198.18.0.0/15`` as a safety net (that range is
for benchmarking: nothing leaves the machine). Each sshd has its own host key, authorises one client key for root
and accepts passwords; a host can be given a ``PATH`` of its own (``SetEnv``), to put another ``python3`` first.
The namespaces share this machine's file system. Needs root, ``ip netns`` and ``/usr/sbin/sshd``
(:func:`unavailable_reason` says what is missing). Everything started is stopped by PID; the namespaces are removed
with ``ip netns del``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SSHD = "/usr/sbin/sshd"


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def unavailable_reason() -> str | None:
    """Why namespace hosts cannot be made here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "namespace SSH hosts need root (ip netns, a bridge, sshd)"
    if not shutil.which("ip"):
        return "the ip command (iproute2) is missing"
    if not os.path.exists(SSHD):
        return f"{SSHD} is missing: apt-get install openssh-server"
    probe = f"lvmprobe{os.getpid() % 100000}"
    made = _run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns is unavailable here: {made.stderr.strip()}"
    _run("ip", "netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    """One namespace host."""

    name: str
    address: str
    netns: str
    folder: str
    sshd_pid: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def pids(self) -> list[int]:
        """Every process running in the host's namespace."""
        out = _run("ip", "netns", "pids", self.netns, check=False).stdout
        return [int(p) for p in out.split()]

    def halt(self) -> None:
        """End every process of the host but its sshd (as a VM that stopped, or a fresh one)."""
        for pid in self.pids():
            if pid != self.sshd_pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass


class HostNetwork:
    """Namespace hosts on one bridge. Use :meth:`add_host`, then :meth:`close`.

    Args:
        folder: where sshd configs, keys and logs go.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.tag = f"{os.getpid() % 10000}"
        self.bridge = f"lvmbr{self.tag}"
        used = _run("ip", "-o", "-4", "addr").stdout
        self.subnet = next(s for s in range(0, 250) if f"198.18.{s}.1/" not in used)
        self.gateway = f"198.18.{self.subnet}.1"
        self.hosts: list[Host] = []
        self._blackhole = False
        os.makedirs("/run/sshd", exist_ok=True)
        self.client_key = os.path.join(folder, "client_key")
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lithops-test", "-f", self.client_key)
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        if _run("ip", "route", "add", "blackhole", "198.18.0.0/15", check=False).returncode == 0:
            self._blackhole = True

    def add_host(self, path: str | None = None) -> Host:
        """Make one more host with a running sshd; ``path``: the ``PATH`` of its SSH sessions."""
        n = len(self.hosts)
        netns = f"lvm{self.tag}h{n}"
        host = Host(name=netns, address=f"198.18.{self.subnet}.{10 + n}", netns=netns,
                    folder=os.path.join(self.folder, netns))
        self.hosts.append(host)
        os.makedirs(host.folder)
        _run("ip", "netns", "add", netns)
        _run("ip", "link", "add", f"{netns}r", "type", "veth", "peer", "name", f"{netns}i")
        _run("ip", "link", "set", f"{netns}r", "master", self.bridge, "up")
        _run("ip", "link", "set", f"{netns}i", "netns", netns)
        for args in (("ip", "link", "set", "lo", "up"), ("ip", "link", "set", f"{netns}i", "name", "eth0"),
                     ("ip", "addr", "add", f"{host.address}/24", "dev", "eth0"), ("ip", "link", "set", "eth0", "up")):
            _run("ip", "netns", "exec", netns, *args)
        key = os.path.join(host.folder, "host_key")
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
        shutil.copy(self.client_key + ".pub", os.path.join(host.folder, "authorized_keys"))
        config = os.path.join(host.folder, "sshd_config")
        lines = [f"ListenAddress {host.address}", "Port 22", f"HostKey {key}",
                 f"PidFile {host.folder}/sshd.pid", f"AuthorizedKeysFile {host.folder}/authorized_keys",
                 "UsePAM no", "StrictModes no", "MaxSessions 50", "MaxStartups 50", "PermitRootLogin yes",
                 "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "Subsystem sftp internal-sftp",
                 "LogLevel ERROR"]
        if path:
            lines.append(f"SetEnv PATH={path}")
        with open(config, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(host.folder, "sshd.log"), "wb") as log:
            proc = subprocess.Popen(["ip", "netns", "exec", netns, SSHD, "-D", "-e", "-f", config],
                                    stdout=log, stderr=subprocess.STDOUT)
        host.sshd_pid = proc.pid
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((host.address, 22), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd on {host.address} did not start: "
                                       f"{open(os.path.join(host.folder, 'sshd.log')).read()}") from None
                time.sleep(0.05)
        return host

    def close(self) -> None:
        """Stop everything in the hosts (by PID), remove the namespaces, the bridge and the route."""
        for host in self.hosts:
            for pid in [*host.pids(), host.sshd_pid]:
                try:
                    os.kill(pid, 9)
                except (ProcessLookupError, PermissionError):
                    pass
            _run("ip", "netns", "del", host.netns, check=False)
            _run("ip", "link", "del", f"{host.netns}r", check=False)
        _run("ip", "link", "del", self.bridge, check=False)
        if self._blackhole:
            _run("ip", "route", "del", "blackhole", "198.18.0.0/15", check=False)
        self.hosts = []


@contextlib.contextmanager
def host_network(folder: str, count: int) -> Iterator[HostNetwork]:
    """A :class:`HostNetwork` in ``folder`` with ``count`` hosts, closed at the end of the ``with`` block."""
    network = HostNetwork(folder)
    try:
        for _ in range(count):
            network.add_host()
        yield network
    finally:
        network.close()


class PasswordUser:
    """A login with a password for the SSH tests: an alias of root (uid 0), so that the agent it starts can use
    the same private storage folder as the client. Removed by :meth:`close`.
    """

    def __init__(self, name: str = "lithopsvmtest") -> None:
        self.name = name
        self.password = os.urandom(12).hex()
        _run("userdel", "-f", name, check=False)
        _run("useradd", "-o", "-u", "0", "-g", "0", "-M", "-d", "/root", "-s", "/bin/sh", name)
        subprocess.run(["chpasswd"], input=f"{name}:{self.password}\n", text=True, check=True, capture_output=True)

    def close(self) -> None:
        """Remove the login."""
        _run("userdel", "-f", self.name, check=False)


def vm_config(network: HostNetwork, shared_root: Any, hosts: list[Host] | None = None, **vm: Any) -> dict[str, Any]:
    """A Lithops config running on ``hosts`` of ``network`` (default: its first two) with root's key, two worker
    processes per host, and localhost storage and the agents' folder in ``shared_root`` (a folder the hosts share
    with this machine); ``vm`` sets more keys of the ``vm`` section.
    """
    hosts = network.hosts[:2] if hosts is None else hosts
    section = {"ssh_username": "root", "ssh_key_filename": network.client_key, "worker_processes": 2,
               "install_dir": os.path.join(shared_root, "install"),
               "hosts": [{"ip_address": h.address} for h in hosts]}
    section.update(vm)
    return {"lithops": {"backend": "vm", "storage": "localhost"}, "vm": section,
            "localhost": {"storage_root": os.path.join(shared_root, "storage")}}
