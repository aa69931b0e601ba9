"""The VM life cycle that a standalone provider backend implements: one small class per cloud (or SSH).

:class:`lithops.standalone.backend.StandaloneBackend` does the rest (exec modes, workers policy, bootstrap,
work distribution, fault detection, dismantling). See docs/plugins.md, "Standalone backends".
"""

from __future__ import annotations

import json
import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lithops.errors import BackendError


@dataclass
class VM:
    """One virtual machine (or host) as a provider sees it.

    Attributes:
        id: the provider's id of the VM (unique within the provider; used in storage keys).
        name: a name for people (logs, ``lithops worker list``, ``lithops attach NAME``).
        address: where the client reaches it (IP address or host name), once known.
        state: the provider's word for its state (``pending``, ``running``, ``stopping``, ``stopped``, ...).
        image: the image it runs, when the provider knows it.
        spot: whether it is a spot (preemptible) VM.
        extra: anything else the provider keeps about it (credentials, zone, ...); not shown. A provider that
            lists VMs Lithops created sets ``extra["lithops_exec_mode"]`` from the tag of that name given to
            :meth:`VMProvider.create`: VMs of ``create`` mode belong to one executor and are never reused.
    """

    id: str
    name: str
    address: str | None = None
    state: str = "running"
    image: str | None = None
    spot: bool = False
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


class VMProvider(ABC):
    """The VM life cycle of one provider.

    Args:
        config: the backend's config section (with the ``standalone`` keys merged in).
        cluster: the name of the cluster the VMs belong to (tag them with it, list by it).
    """

    #: Whether :meth:`install_agent` installs the agent on a running VM (over SSH); otherwise the agent comes
    #: with the VM's user data given to :meth:`create`.
    installs_over_ssh: bool = False
    #: For providers that create VMs with user data: a shell command that prints the VM's own id on the VM (from
    #: the provider's metadata service), so that one user data serves every VM of a :meth:`create` call. The
    #: bootstrap runs it after checking the runtime's Python; the shell function ``py`` runs that Python.
    vm_id_command: str | None = None
    #: For providers whose VMs download the code zip with their own identity rather than from a signed URL: a shell
    #: command that prints the ``Authorization`` header value for
    #: :meth:`~lithops.standalone.backend.StandaloneBackend.download_url` (a token from the provider's metadata
    #: service; the shell function ``py`` runs the runtime's Python).
    code_auth_command: str | None = None
    #: Whether the cloud itself runs the user data at every boot (Compute Engine's ``startup-script``): the
    #: bootstrap then does not also install itself as a cloud-init per-boot script, which would start a second agent.
    reruns_user_data: bool = False

    def __init__(self, config: Mapping[str, Any], cluster: str) -> None:
        self.config = dict(config)
        self.cluster = cluster

    @abstractmethod
    def create(self, count: int, *, spot: bool = False, user_data: str | None = None,
               tags: Mapping[str, str] | None = None) -> list[VM]:
        """Create ``count`` VMs of the cluster (on-demand, or spot when ``spot``), booting with ``user_data``
        (a shell script, cloud-init) when the provider takes one, and tagged with ``tags``
        (``lithops_cluster``, ``lithops_executor``, ``lithops_exec_mode``).

        Raises:
            BackendError: none could be created; the message says why and what to do.
        """

    @abstractmethod
    def start(self, vms: list[VM]) -> None:
        """Start these stopped VMs (VMs still stopping are started once stopped)."""

    @abstractmethod
    def stop(self, vms: list[VM]) -> None:
        """Stop these VMs (their disks are kept)."""

    @abstractmethod
    def delete(self, vms: list[VM]) -> None:
        """Delete these VMs and what was made only for them."""

    def release(self, vms: list[VM]) -> None:  # noqa: B027 - optional operation
        """Undo what Lithops made on the platform for these VMs the user owns (``exec_mode: consume``), such as an
        address it attached; the VMs themselves stay. ``lithops clean --all`` calls it after stopping their agents
        (never :meth:`delete`, which is for the VMs Lithops made).
        """

    @abstractmethod
    def list_vms(self) -> list[VM]:
        """The VMs of this cluster, whatever their state (deleted ones excluded)."""

    @abstractmethod
    def wait_ready(self, vm: VM, timeout: float) -> VM:
        """Wait until ``vm`` runs and can be reached; return it with its address filled in.

        Raises:
            BackendError: not ready within ``timeout`` seconds, or it failed; the message names the VM.
        """

    def poll_ready(self, name: str, timeout: float, look: Callable[[], VM], *, hint: str = "",
                   poll_sec: float = 1.0) -> VM:
        """For :meth:`wait_ready`: call ``look`` every ``poll_sec`` seconds until the VM it returns runs (and has an
        address, where :attr:`installs_over_ssh`); return that VM. ``look`` raises a ``BackendError`` where the VM
        will never be ready (deleted, failed).

        Raises:
            BackendError: not ready within ``timeout`` seconds; the message names the VM (``name``), its state and
                ``hint``.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = look()
            if found.state == "running" and (found.address or not self.installs_over_ssh):
                return found
            if time.monotonic() > deadline:
                raise BackendError(f"VM {name} is still {found.state} after {timeout:g} s (start_timeout){hint}.")
            time.sleep(poll_sec)

    def settled_states(self, states: Callable[[], Mapping[str, str]], *, poll_sec: float = 1.0) -> dict[str, str]:
        """For :meth:`start`: call ``states`` (VM id -> state) until no VM is ``stopping`` (a VM still stopping
        cannot be started yet); return the last answer.

        Raises:
            BackendError: VMs still stopping after ``start_timeout`` seconds; the message names them.
        """
        timeout = self.config.get("start_timeout")
        deadline = time.monotonic() + float(timeout or 300)
        while True:
            found = dict(states())
            stopping = [vm_id for vm_id, state in found.items() if state == "stopping"]
            if not stopping:
                return found
            if time.monotonic() > deadline:
                raise BackendError(f"VMs {', '.join(stopping)} were still stopping after {timeout} s "
                                   f"(start_timeout); try again later.")
            time.sleep(poll_sec)

    def named(self) -> list[VM]:
        """The VMs the config names, for ``exec_mode: consume``."""
        raise BackendError(f"{type(self).__name__} has no consume mode: set exec_mode to create or reuse.")

    def address(self, vm: VM) -> str:
        """Where the client reaches ``vm``."""
        if not vm.address:
            raise BackendError(f"VM {vm.name} has no address yet; it may still be starting.")
        return vm.address

    def image(self, vm: VM) -> str | None:
        """The image ``vm`` runs, if known."""
        return vm.image

    def python_version(self, vm: VM) -> str | None:
        """The ``major.minor`` of the runtime's Python on ``vm``, when the provider can ask the VM directly
        (None: learnt from the agent's heartbeat instead).

        Raises:
            BackendError: the VM has no such Python; the message names the VM and the fix.
        """
        return None

    def install_agent(self, vm: VM, files: Mapping[str, bytes], script: str) -> tuple[int, str, str]:
        """Copy ``files`` (absolute paths on the VM -> content; skip those already there) to ``vm`` and run the
        shell ``script`` there, which starts the agent; return its exit code, stdout and stderr (providers with
        :attr:`installs_over_ssh`). By default with the OpenSSH client (:func:`install_over_ssh`, key login with
        ``ssh_username`` and ``ssh_key_filename``).

        Raises:
            BackendError: the VM cannot be reached or logged in to; the message names it and what to do.
        """
        return install_over_ssh(self.shell_command(vm), vm.name, files, script)

    def shell_command(self, vm: VM) -> list[str]:
        """The ``ssh`` command line that opens a shell on ``vm`` (``lithops attach``; a command may follow it).
        Host keys are kept in Lithops's own ``known_hosts`` file, as the VMs' addresses are often reused.
        """
        return ssh_command(self.address(vm), str(self.config["ssh_username"]), self.config["ssh_key_filename"],
                           int(self.config["ssh_port"]))

    def close(self) -> None:  # noqa: B027 - optional operation
        """Release connections."""


@dataclass(frozen=True)
class MetadataRequest:
    """One request to a cloud's metadata service, for :func:`metadata_command`.

    Attributes:
        url: what to ask (``http://169.254.169.254/...``, with any query string).
        headers: headers the service requires (e.g. ``Metadata-Flavor``).
        method: the HTTP method.
        data: the request body, if any.
        json_key: the answer is a JSON object: take this key's value (None: the answer's text).
    """

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    data: str | None = None
    json_key: str | None = None


def metadata_command(request: MetadataRequest, *, token: MetadataRequest | None = None,
                     token_header: tuple[str, str] | None = None, prefix: str = "") -> str:
    """A shell command that prints ``prefix`` and the answer to ``request`` with the runtime's Python (the
    bootstrap's shell function ``py``), for :attr:`VMProvider.vm_id_command` and
    :attr:`VMProvider.code_auth_command`. It fails (non-zero exit, the error on stderr) when the service refuses.

    Args:
        request: what prints the VM's id (or the value wanted).
        token: a request made first for a session token (as EC2's IMDSv2 and VPC's metadata service want).
        token_header: the header that carries the token in ``request``: its name and a ``str.format`` pattern of
            its value (``("Authorization", "Bearer {}")``).
        prefix: printed before the answer.
    """
    def ask(req: MetadataRequest, headers: str) -> str:
        data = "None" if req.data is None else f"{json.dumps(req.data)}.encode()"
        answer = (f"u.urlopen(u.Request({json.dumps(req.url)}, data={data}, method={json.dumps(req.method)}, "
                  f"headers={headers}), timeout=10)")
        return f"json.load({answer})[{json.dumps(req.json_key)}]" if req.json_key else f"{answer}.read().decode()"

    items = [f"{json.dumps(name)}: {json.dumps(value)}" for name, value in request.headers.items()]
    program = "import json, urllib.request as u; "
    if token is not None:
        name, pattern = token_header or ("Authorization", "Bearer {}")
        program += f"t = {ask(token, json.dumps(dict(token.headers)))}; "
        items.append(f"{json.dumps(name)}: {json.dumps(pattern)}.format(t)")
    answer = ask(request, "{" + ", ".join(items) + "}")
    program += f"print({json.dumps(prefix)} + {answer})" if prefix else f"print({answer})"
    return f"py -c {shlex.quote(program)}"


def named_vm(config: Mapping[str, Any], section: str, key: str, what: str) -> str:
    """The VM that config key ``key`` of ``section`` names for ``exec_mode: consume`` (its ``what``: id, name).

    Raises:
        BackendError: the key is not set; the message says what to set.
    """
    value = config.get(key)
    if not value:
        raise BackendError(f"{section}.exec_mode is 'consume' but {section}.{key} is not set: give the {what} of the "
                           f"VM to run on, or use exec_mode create or reuse.")
    return str(value)


def ssh_command(address: str, user: str, key_filename: str | None = None, port: int = 22) -> list[str]:
    """``ssh`` to ``user@address``, remembering host keys in Lithops's own ``known_hosts`` file."""
    import os

    from lithops.local_state import state_dir

    command = ["ssh", "-o", "StrictHostKeyChecking=accept-new", "-o",
               f"UserKnownHostsFile={os.path.join(state_dir(), 'known_hosts')}", "-p", str(port)]
    if key_filename:
        command += ["-i", os.path.expanduser(key_filename)]
    return [*command, f"{user}@{address}"]


#: Options of :func:`install_over_ssh`: no prompt, a bounded wait, and any host key (cloud VMs' addresses are reused
#: by VMs with other keys, as lithops-vm's own SSH client allows too).
_INSTALL_OPTIONS = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


def install_over_ssh(ssh: list[str], name: str, files: Mapping[str, bytes], script: str,
                     timeout: float = 900) -> tuple[int, str, str]:
    """Upload ``files`` (path on the VM -> content; a file of the same size is kept) and run the shell
    ``script`` with ``sh`` over the OpenSSH client; return the script's exit code, stdout and stderr.

    Args:
        ssh: the ``ssh`` command line ending with ``user@address`` (:meth:`VMProvider.shell_command`).
        name: the VM's name, for messages.
        files: absolute path on the VM -> content.
        script: the shell script to run.
        timeout: seconds each SSH command may take.

    Raises:
        BackendError: ``ssh`` is missing, or the VM cannot be reached or logged in to (ssh's exit 255).
    """
    import posixpath
    import shlex
    import subprocess

    command = [ssh[0], *_INSTALL_OPTIONS, *ssh[1:]]

    def run(remote: str, data: bytes) -> tuple[int, str, str]:
        try:
            proc = subprocess.run([*command, remote], input=data, capture_output=True, timeout=timeout)
        except FileNotFoundError:
            raise BackendError("the ssh command is missing: install the OpenSSH client (apt-get install "
                               "openssh-client) to set up VMs over SSH.") from None
        except subprocess.TimeoutExpired:
            raise BackendError(f"setting up {name} over SSH took over {timeout:g} s; its log may say why.") from None
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        if proc.returncode == 255:
            raise BackendError(f"cannot log in to {name} over SSH ({err.strip()[-300:]}). Check that the VM is up "
                               f"and its SSH port is open to this machine, and the ssh_username and "
                               f"ssh_key_filename keys.")
        return proc.returncode, out, err

    for path, data in files.items():
        target, part = shlex.quote(path), shlex.quote(path + ".part")
        code, out, err = run(f"mkdir -p {shlex.quote(posixpath.dirname(path) or '.')} && "
                             f"if [ \"$(wc -c <{target} 2>/dev/null)\" != {len(data)} ]; then "
                             f"cat >{part} && mv {part} {target}; fi", data)
        if code != 0:
            return code, out, err
    return run("sh -s", script.encode())
