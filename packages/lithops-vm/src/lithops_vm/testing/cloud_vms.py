"""Namespace hosts playing a cloud's VMs, for the tests of standalone providers (EC2, Compute Engine, Azure VMs, VPC).

A test's fake control plane hands each VM it creates to :class:`CloudVMs`, which picks a free
:class:`~lithops_vm.testing.netns.Host` to play it. Booting the VM does what a cloud image does at boot: a metadata
service comes up on ``169.254.169.254:80`` inside the host's namespace (answering the routes the cloud's metadata
service has, e.g. the instance id, and refusing requests without the headers the cloud requires), then the VM's
user data runs as root (``sh <file>``, as cloud-init runs a shell script) with the given environment, logging to a
file. Stopping or deleting a VM ends every process of its host but sshd; a deleted VM's host is free again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lithops_vm.testing.netns import Host, HostNetwork

#: Where cloud metadata services answer, inside every VM.
METADATA_ADDRESS = "169.254.169.254"


@dataclass
class MetadataRoute:
    """One answer of a VM's metadata service.

    Attributes:
        path: the request path, without the query string.
        body: what it answers.
        method: the HTTP method.
        headers: headers the request must carry (name -> value); without them the answer is ``refusal``.
        refusal: the status answered to a request without ``headers``.
    """

    path: str
    body: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    refusal: int = 401


_METADATA_SERVER = """
import http.server, json, sys
routes, ready = json.loads(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body):
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def handle_any(self):
        path = self.path.split("?", 1)[0]
        for r in routes:
            if r["method"] == self.command and r["path"] == path:
                if any(self.headers.get(k) != v for k, v in r["headers"].items()):
                    return self.answer(r["refusal"], b"")
                return self.answer(200, r["body"].encode())
        self.answer(404, b"")
    do_GET = do_PUT = do_POST = handle_any
    def log_message(self, *args):
        pass
server = http.server.HTTPServer((sys.argv[3], 80), H)
open(ready, "w").close()
server.serve_forever()
"""


class CloudVMs:
    """The hosts of ``network`` (or ``hosts`` of them) playing VMs named by the fake's ids.

    Args:
        network: the namespace hosts.
        metadata: the metadata service's routes for a VM id.
        env: the environment of the user data (``PATH`` and ``HOME`` are set; ``LITHOPS_TEST_VM_LOG`` names the
            boot log, where the ``shutdown`` command on ``PATH`` writes what it was asked).
        hosts: the hosts that may play VMs (default: all of ``network``'s).
        boot_delay: seconds a VM takes to boot before its user data runs.
    """

    def __init__(self, network: HostNetwork, metadata: Callable[[str], list[MetadataRoute]],
                 env: Mapping[str, str] | None = None, hosts: list[Host] | None = None,
                 boot_delay: float = 0.0) -> None:
        self.network = network
        self.metadata = metadata
        self.env = dict(env or {})
        self.boot_delay = boot_delay
        self.free = list(network.hosts if hosts is None else hosts)
        #: VM id -> the host playing it, its user data, and the exit codes of its boots
        self.hosts: dict[str, Host] = {}
        self.user_data: dict[str, str] = {}
        self.boots: dict[str, list[int]] = {}
        self._shutdowns: dict[str, int] = {}
        #: VM id -> how often it was stopped or deleted: a boot under way ends quietly when this moves
        self._halts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._bin = os.path.join(network.folder, "vm-bin")
        os.makedirs(self._bin, exist_ok=True)
        with open(os.path.join(self._bin, "shutdown"), "w", encoding="utf-8") as f:  # the agent's power-off
            f.write('#!/bin/sh\necho "shutdown $*" >>"$LITHOPS_TEST_VM_LOG"\n')
        os.chmod(os.path.join(self._bin, "shutdown"), 0o755)

    def assign(self, vm_id: str, user_data: str = "") -> Host | None:
        """Give VM ``vm_id`` a free host (None when every host plays a VM already) and boot it soon."""
        with self._lock:
            if not self.free:
                return None
            host = self.hosts[vm_id] = self.free.pop(0)
            self.user_data[vm_id] = user_data
        self.boot_later(vm_id)
        return host

    def address(self, vm_id: str) -> str | None:
        """The address of the host playing ``vm_id``, if one does."""
        with self._lock:
            host = self.hosts.get(vm_id)
        return host.address if host is not None else None

    def boot_later(self, vm_id: str) -> None:
        """Boot ``vm_id`` in a thread (a start request returns before the VM booted)."""
        self._shutdowns[vm_id] = self.log(vm_id).count("shutdown ")  # power-offs before this boot
        with self._lock:
            halts = self._halts.get(vm_id, 0)
        thread = threading.Thread(target=self.boot, args=(vm_id, halts), daemon=True, name=f"boot-{vm_id}")
        self._threads.append(thread)
        thread.start()

    def boot(self, vm_id: str, halts: int | None = None) -> None:
        """What the VM does when it boots: its metadata service comes up, then its user data runs as root. A VM
        stopped or deleted meanwhile (``halts``: its stops and deletions when the boot was asked for) ends its boot
        quietly.
        """
        if halts is None:
            with self._lock:
                halts = self._halts.get(vm_id, 0)
        time.sleep(self.boot_delay)
        with self._lock:
            host = self.hosts.get(vm_id)
        if host is None:  # deleted before it booted
            return

        def halted() -> bool:  # stopped or deleted since this boot began
            with self._lock:
                return self._halts.get(vm_id, 0) != halts

        host.halt()
        subprocess.run(["ip", "netns", "exec", host.netns, "ip", "addr", "add", f"{METADATA_ADDRESS}/32", "dev",
                        "lo"], capture_output=True)
        ready = os.path.join(host.folder, f"metadata-{vm_id}.ready")
        routes = json.dumps([vars(route) for route in self.metadata(vm_id)])
        subprocess.Popen(["ip", "netns", "exec", host.netns, sys.executable, "-c", _METADATA_SERVER, routes, ready,
                          METADATA_ADDRESS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(ready):
            if halted():  # its metadata service may have been ended before it was up
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the metadata service of {vm_id} did not start")
            time.sleep(0.05)
        os.unlink(ready)
        if halted():
            return
        script = self.user_data.get(vm_id)
        if not script:
            return
        path = os.path.join(host.folder, f"user-data-{vm_id}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(script)
        log = os.path.join(host.folder, f"cloud-init-{vm_id}.log")
        env = [f"PATH={self._bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
               *(f"{k}={v}" for k, v in self.env.items()), f"LITHOPS_TEST_VM_LOG={log}"]
        with open(log, "ab") as out:
            code = subprocess.run(["ip", "netns", "exec", host.netns, "env", "-i", *env, "sh", path], stdout=out,
                                  stderr=subprocess.STDOUT, timeout=120).returncode
        self.boots.setdefault(vm_id, []).append(code)

    def powered_off(self, vm_id: str) -> bool:
        """Whether the guest of ``vm_id`` powered itself off (ran ``shutdown``, as the agent does when idle) since
        it was last booted: a fake control plane then reports the VM stopped, as the cloud does.
        """
        return vm_id in self.hosts and self.log(vm_id).count("shutdown ") > self._shutdowns.get(vm_id, 0)

    def log(self, vm_id: str) -> str:
        """What the VM's boots printed."""
        path = os.path.join(self.hosts[vm_id].folder, f"cloud-init-{vm_id}.log")
        return open(path, encoding="utf-8").read() if os.path.exists(path) else ""

    def stop(self, vm_id: str) -> None:
        """End the VM's processes (its host stays its own, as a stopped VM's disk)."""
        with self._lock:
            host = self.hosts.get(vm_id)
            self._halts[vm_id] = self._halts.get(vm_id, 0) + 1
        if host is not None:
            host.halt()

    def delete(self, vm_id: str) -> None:
        """End the VM's processes and free its host."""
        with self._lock:
            host = self.hosts.pop(vm_id, None)
            self._halts[vm_id] = self._halts.get(vm_id, 0) + 1
            if host is not None:
                self.free.append(host)
        if host is not None:
            host.halt()

    def close(self) -> None:
        """Wait for boots under way; end every process the VMs started."""
        for thread in self._threads:
            thread.join(timeout=60)
        for host in [*self.hosts.values(), *self.free]:
            host.halt()
