"""The hosts of the ``vm`` backend as a :class:`lithops.standalone.provider.VMProvider`, over SSH (paramiko).

The hosts exist already: there is nothing to create or start. Stopping a host stops its agent; deleting it also
removes the agent's folder. Host keys are accepted on first use and not checked against ``known_hosts``.
"""

from __future__ import annotations

import logging
import posixpath
import shlex
import threading
from collections.abc import Mapping
from typing import Any

import paramiko

from lithops.errors import BackendError
from lithops.standalone.bootstrap import agent_dir, is_container_image
from lithops.standalone.provider import VM, VMProvider, ssh_command

logger = logging.getLogger(__name__)

#: Seconds to wait for a host to answer on its SSH port, and for its login.
CONNECT_TIMEOUT = 10.0
_VERSION_CODE = 'import sys; print("%d.%d" % sys.version_info[:2])'
_HOST_DEFAULTS = ("ssh_username", "ssh_password", "ssh_key_filename", "ssh_port", "runtime", "worker_processes")


class SSHHosts(VMProvider):
    """The hosts of the ``vm`` section: ``ip_address`` or ``hosts``."""

    installs_over_ssh = True

    def __init__(self, config: Mapping[str, Any], cluster: str) -> None:
        super().__init__(config, cluster)
        entries = list(self.config.get("hosts") or [])
        if self.config.get("ip_address"):
            entries.insert(0, {"ip_address": self.config["ip_address"]})
        if not entries:
            raise BackendError("vm.ip_address is not set: give the address of the host to run on (or a list of "
                               "hosts under vm.hosts).")
        self.hosts: dict[str, dict[str, Any]] = {}
        for entry in entries:
            host = {k: self.config.get(k) for k in _HOST_DEFAULTS}
            host.update({k: v for k, v in entry.items() if v is not None})
            vm_id = str(host["ip_address"]).replace(":", "_")
            if int(host.get("ssh_port") or 22) != 22:
                vm_id += f"_{host['ssh_port']}"
            self.hosts[vm_id] = host
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._lock = threading.Lock()

    def _vm(self, vm_id: str) -> VM:
        host = self.hosts[vm_id]
        return VM(id=vm_id, name=f"{host['ssh_username']}@{host['ip_address']}", address=str(host["ip_address"]),
                  extra={k: host[k] for k in ("runtime", "worker_processes") if host.get(k) is not None})

    def named(self) -> list[VM]:
        """The configured hosts."""
        return [self._vm(vm_id) for vm_id in self.hosts]

    def list_vms(self) -> list[VM]:
        """The configured hosts."""
        return self.named()

    def create(self, count: int, *, spot: bool = False, user_data: str | None = None,
               tags: Mapping[str, str] | None = None) -> list[VM]:
        """Not possible: the ``vm`` backend runs on hosts that exist."""
        raise BackendError("the vm backend runs on hosts you already have: list them in vm.ip_address or vm.hosts.")

    def start(self, vms: list[VM]) -> None:
        """Nothing to do: the hosts are up."""

    def stop(self, vms: list[VM]) -> None:
        """Stop the agents on these hosts."""
        for vm in vms:
            folder = agent_dir(self._install_dir(), vm.id)
            self.run(vm, f"kill $(cat {shlex.quote(folder)}/agent.pid) 2>/dev/null; true")

    def delete(self, vms: list[VM]) -> None:
        """Stop the agents on these hosts and remove their folders."""
        self.stop(vms)
        for vm in vms:
            self.run(vm, f"rm -rf {shlex.quote(agent_dir(self._install_dir(), vm.id))}")

    def wait_ready(self, vm: VM, timeout: float) -> VM:
        """Log in once (the hosts are up already)."""
        self._client(vm)
        return vm

    def _install_dir(self) -> str:
        return str(self.config.get("install_dir") or ".lithops-vm")

    # -- SSH ---------------------------------------------------------------------------------------------------
    def _client(self, vm: VM) -> paramiko.SSHClient:
        with self._lock:
            client = self._clients.get(vm.id)
            transport = client.get_transport() if client is not None else None
            if client is not None and transport is not None and transport.is_active():
                return client
            host = self.hosts[vm.id]
            port = int(host.get("ssh_port") or 22)
            where = f"{host['ssh_username']}@{host['ip_address']}:{port}"
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            key = host.get("ssh_key_filename")
            try:
                client.connect(str(host["ip_address"]), port=port, username=str(host["ssh_username"]),
                               password=host.get("ssh_password"),
                               key_filename=posixpath.expanduser(str(key)) if key else None,
                               timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT, auth_timeout=CONNECT_TIMEOUT,
                               look_for_keys=not key and not host.get("ssh_password"),
                               allow_agent=not key and not host.get("ssh_password"))
            except paramiko.AuthenticationException as exc:
                raise BackendError(f"SSH login to {where} was refused ({exc}): check vm.ssh_username and "
                                   f"vm.ssh_password or vm.ssh_key_filename for that host.") from None
            except FileNotFoundError as exc:
                raise BackendError(f"SSH key file for {where} not found: {exc.filename}. Fix "
                                   f"vm.ssh_key_filename.") from None
            except (TimeoutError, OSError, paramiko.SSHException) as exc:
                raise BackendError(f"cannot reach {where} over SSH ({type(exc).__name__}: {exc}). Check "
                                   f"vm.ip_address, that the host is up, and that sshd listens on port "
                                   f"{port}.") from None
            self._clients[vm.id] = client
            return client

    def run(self, vm: VM, command: str, stdin: str | None = None, timeout: float = 600) -> tuple[int, str, str]:
        """Run a shell command on ``vm``; return its exit code, stdout and stderr."""
        client = self._client(vm)
        chan_in, chan_out, chan_err = client.exec_command(command, timeout=timeout)
        if stdin is not None:
            chan_in.write(stdin)
            chan_in.channel.shutdown_write()
        out = chan_out.read().decode(errors="replace")
        err = chan_err.read().decode(errors="replace")
        return chan_out.channel.recv_exit_status(), out, err

    def python_version(self, vm: VM) -> str | None:
        """``major.minor`` of the host's runtime Python."""
        runtime = str(self.hosts[vm.id].get("runtime") or "python3")
        if is_container_image(runtime):
            return None  # the install script asks the image
        code, out, err = self.run(vm, f"{shlex.quote(runtime)} -c {shlex.quote(_VERSION_CODE)}")
        if code != 0 or not out.strip():
            raise BackendError(f"{vm.name} has no working Python '{runtime}' ({(err or out).strip()[-200:]}): "
                               f"install Python there (apt-get install python3) or set vm.runtime to its path.")
        return out.strip().splitlines()[-1]

    def install_agent(self, vm: VM, files: Mapping[str, bytes], script: str) -> tuple[int, str, str]:
        """Upload the files that are not there yet (SFTP), then run the script with ``sh``."""
        sftp = self._client(vm).open_sftp()
        try:
            for path, data in files.items():
                try:
                    if sftp.stat(path).st_size == len(data):
                        continue
                except OSError:
                    pass
                self.run(vm, f"mkdir -p {shlex.quote(posixpath.dirname(path) or '.')}")
                with sftp.open(path + ".part", "wb") as f:
                    f.write(data)
                sftp.posix_rename(path + ".part", path)
        finally:
            sftp.close()
        return self.run(vm, "sh -s", stdin=script)

    def shell_command(self, vm: VM) -> list[str]:
        """``ssh`` to the host with its login, key and port."""
        host = self.hosts[vm.id]
        return ssh_command(str(host["ip_address"]), str(host["ssh_username"]), host.get("ssh_key_filename"),
                           int(host.get("ssh_port") or 22))

    def close(self) -> None:
        """Close the SSH connections."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
