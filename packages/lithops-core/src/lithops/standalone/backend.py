"""The standalone compute backend, provider-neutral: VMs running Lithops's agent, work through the job's storage.

A provider backend is a subclass that sets :attr:`StandaloneBackend.provider_class` (a
:class:`lithops.standalone.provider.VMProvider`); see docs/plugins.md, "Standalone backends". This class

- brings the VMs up as ``exec_mode`` says (``consume``: the VMs the config names; ``create``: new VMs for this
  executor, deleted on :meth:`close`; ``reuse``: the cluster's VMs, started or created up to ``max_workers``),
  keeping the ones that fail as ``workers_policy`` says;
- checks each VM's Python against the client's ``major.minor`` before anything runs there, installs the client's
  own code and starts the agent (:mod:`lithops.standalone.bootstrap`), or finds its agent already up with the
  config this client would give it (same code, Python, storage, worker processes and timeouts: a warm VM, no SSH
  at all);
- queues each job's worker payloads as one storage object per VM, in proportion to the VMs' worker processes;
- watches the agents' heartbeats while calls are out: when an agent stops (killed, the VM stopped underneath),
  the calls it had that have no status fail within seconds with a ``WorkerDiedError`` naming the VM, finished
  calls are kept, and the next job starts the agent again.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.helpers import failed_status
from lithops.errors import BackendError, WorkerDiedError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.standalone.agent import config_digest
from lithops.standalone.bootstrap import (
    EXIT_NO_PYTHON,
    EXIT_PACKAGES,
    EXIT_PYTHON_MISMATCH,
    MISMATCH_MARK,
    VM_ID_PLACEHOLDER,
    agent_dir,
    bootstrap_script,
    code_path,
    removal_script,
)
from lithops.standalone.bundle import build_bundle
from lithops.standalone.config import STANDALONE_CONFIG
from lithops.standalone.provider import VM, VMProvider
from lithops.storage.job_storage import JobStorage

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Storage prefix of everything the standalone layer keeps (queues, heartbeats).
PREFIX = "lithops.standalone"
#: An agent whose heartbeat has not moved for this long is taken for dead.
STALE_SEC = 8.0
#: A heartbeat written less than this long ago (by the VM's clock) counts as a running agent at start.
FRESH_SEC = 10.0
#: Seconds between two looks at the heartbeats while calls are out.
WATCH_SEC = 1.0


def client_python() -> str:
    """``major.minor`` of the client's Python."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def default_image(images: Mapping[str, T], cloud: str, key: str, also: str = "") -> T:
    """A provider's default image for the client's Python, from ``images`` (``major.minor`` -> image).

    Raises:
        BackendError: none for this Python; the message says to set config key ``key`` (and ``also``).
    """
    wanted = client_python()
    if wanted not in images:
        raise BackendError(f"no default {cloud} image has Python {wanted}, which this client runs: set {key} to an "
                           f"image with Python {wanted}{also}.")
    return images[wanted]


def mismatch_error(vm: VM, found: str, runtime: str, section: str) -> BackendError:
    """The error for a VM whose Python is not the client's."""
    wanted = client_python()
    return BackendError(
        f"{vm.name} has Python {found} ('{runtime}') but this client runs Python {wanted}. Calls are pickled by "
        f"value, so they run only on the same Python version. Install Python {wanted} on {vm.name} and set "
        f"{section}.runtime to it (for example python{wanted}), or run the client with Python {found}.")


class StandaloneBackend(ComputeBackend):
    """Runs calls on VMs through Lithops's agent. Subclasses set :attr:`provider_class`.

    Args:
        config: the backend's section, with the ``standalone`` keys merged in (see
            :data:`lithops.standalone.config.STANDALONE_CONFIG`).
        lithops_config: the whole executor config.
    """

    transport = "storage"
    #: No start-up bound: VMs are shared by executors: calls may wait behind other executors' calls.
    start_timeout = None
    ships_modules = True
    #: The provider's VM life cycle.
    provider_class: ClassVar[type[VMProvider]]
    #: The backend's config section name (in messages).
    section: ClassVar[str] = "standalone"
    #: The backend's schema: :data:`STANDALONE_CONFIG` plus the provider's keys (a subclass sets its spec's).
    config_schema: ClassVar[Mapping[str, ConfigKey]] = STANDALONE_CONFIG
    #: Top-level modules the agent needs besides lithops-core's and the storage backend's.
    agent_modules: ClassVar[tuple[str, ...]] = ()
    #: What an idle agent does at the end: ``"poweroff"`` the VM, or just ``"exit"`` (hosts the user owns).
    on_dismantle: ClassVar[str] = "poweroff"
    #: Whether the provider only knows the VMs the config names (every ``exec_mode`` is then ``consume``).
    fixed_vms: ClassVar[bool] = False
    #: Default folder for the agent's files on the VMs.
    install_dir: ClassVar[str] = "/opt/lithops"
    #: Python packages the agent needs to reach the job's storage on a stock image: when the runtime is the
    #: image's own ``python3``, they are installed first (``extra_python_packages``), with ``python3-pip`` from
    #: the package manager (``extra_apt_packages``); another runtime is expected to have them.
    agent_requirements: ClassVar[tuple[str, ...]] = ()
    #: Keys of the storage config left out of the agent's config on VMs made from user data (every ``exec_mode``
    #: but ``consume``): they reach storage with the VM's own identity, and user data can be read by anyone
    #: allowed to read the VM.
    user_data_credential_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self.mode = "consume" if self.fixed_vms else str(self.config["exec_mode"])
        if self.agent_requirements and str(self.config.get("runtime") or "python3") == "python3":
            self.config["extra_apt_packages"] = list(dict.fromkeys(
                ["python3-pip", *(self.config.get("extra_apt_packages") or [])]))
            self.config["extra_python_packages"] = [*self.agent_requirements,
                                                    *(self.config.get("extra_python_packages") or [])]
        self.cluster = str(self.config.get("cluster_name") or "lithops-workers")
        self._provider: VMProvider | None = None
        self._lock = threading.Lock()
        self._vms: dict[str, VM] = {}
        self._ready: dict[str, dict[str, Any]] = {}
        self._created: list[VM] = []
        self._wanted: list[VM] | None = None
        self._failed: set[str] = set()
        self._lost: set[str] = set()
        self._next = 0
        self._outstanding: dict[str, list[tuple[str, list[dict[str, Any]], StatusReporter]]] = {}
        self._beats: dict[str, tuple[Any, float]] = {}
        self._watch: threading.Thread | None = None
        self._closed = threading.Event()

    # -- pieces -------------------------------------------------------------------------------------------------
    @property
    def provider(self) -> VMProvider:
        """The provider, made on first use."""
        if self._provider is None:
            self._provider = self.provider_class(self.config, self.cluster)
        return self._provider

    def _dir(self) -> str:
        return str(self.config.get("install_dir") or self.install_dir)

    def setting(self, vm: VM, key: str, default: Any = None) -> Any:
        """Config key ``key`` for ``vm``: the VM's own value (``VM.extra``), else the section's."""
        value = vm.extra.get(key)
        return self.config.get(key, default) if value is None else value

    def _prefix(self, vm: VM) -> str:
        return f"{PREFIX}/{self.cluster}/{vm.id}/"

    def bundle(self) -> tuple[bytes, str]:
        """The code zip shipped to the VMs and its digest."""
        storage_module = self.job_storage()[1].split(".", 1)[0]
        return build_bundle((*self.agent_modules, storage_module))

    def agent_config(self, vm: VM) -> dict[str, Any]:
        """The agent's config document for ``vm`` (without :attr:`user_data_credential_keys` unless in ``consume``
        mode).
        """
        storage, path = self.job_storage()
        dropped = () if self.mode == "consume" else self.user_data_credential_keys
        storage_config = {key: value for key, value in storage.storage_handler.config.items() if key not in dropped}
        return {
            "vm_id": vm.id, "vm_name": vm.name, "prefix": self._prefix(vm),
            "storage": {"name": storage.backend, "backend": path, "bucket": storage.bucket,
                        "config": storage_config},
            "worker_processes": self.setting(vm, "worker_processes", "AUTO"),
            "soft_dismantle_timeout": self.config["soft_dismantle_timeout"],
            "hard_dismantle_timeout": self.config["hard_dismantle_timeout"],
            "auto_dismantle": bool(self.config["auto_dismantle"]),
            "on_dismantle": self.on_dismantle, "python_version": client_python(), "code_digest": self.bundle()[1],
            # what the install script did before the agent started: a change means a new install
            "runtime": self.setting(vm, "runtime") or "python3",
            "extra_apt_packages": list(self.config.get("extra_apt_packages") or []),
            "extra_python_packages": list(self.config.get("extra_python_packages") or []),
        }

    def user_data(self, vm: VM | None, code_url: str) -> str:
        """The bootstrap script as cloud-init user data (the code downloaded from ``code_url``): for ``vm``, or,
        with None, for every VM created from it (each learns its id with the provider's
        :attr:`~lithops.standalone.provider.VMProvider.vm_id_command`).

        Raises:
            BackendError: ``vm`` is None and the provider has no ``vm_id_command``.
        """
        if vm is None and not self.provider.vm_id_command:
            raise BackendError(f"{type(self.provider).__name__} sets no vm_id_command, so VMs cannot be created "
                               f"with the agent in their user data (a provider bug).")
        return self._script(vm, code_url)

    def _script(self, vm: VM | None, code_url: str | None = None) -> str:
        template = vm or VM(id=VM_ID_PLACEHOLDER, name=VM_ID_PLACEHOLDER)
        return bootstrap_script(
            install_dir=self._dir(), vm_id=vm.id if vm else None,
            python=str(self.setting(template, "runtime") or "python3"), python_version=client_python(),
            digest=self.bundle()[1], agent_config=self.agent_config(template),
            extra_apt_packages=self.config["extra_apt_packages"],
            extra_python_packages=self.config["extra_python_packages"], code_url=code_url,
            vm_id_command=None if vm else self.provider.vm_id_command,
            code_auth_command=self.provider.code_auth_command if code_url else None,
            per_boot=not self.provider.reruns_user_data)

    def code_url(self) -> str:
        """Upload the code zip to the job's storage (once per code version) and return a URL the VMs can
        download it from (:meth:`download_url`).
        """
        bundle, digest = self.bundle()
        storage = self.job_storage()[0]
        key = f"{PREFIX}/code/{digest}.zip"
        try:
            storage.head_object(storage.bucket, key)
        except Exception:
            storage.put_object(storage.bucket, key, bundle)
        return self.download_url(key)

    def download_url(self, key: str) -> str:
        """A URL from which a new VM, before it has any credentials or Lithops code, can download object ``key``
        of the job's bucket (for S3, a pre-signed URL). Backends whose provider creates VMs with user data
        override it.

        Raises:
            BackendError: this backend cannot give one.
        """
        raise BackendError(f"{self.section}: {type(self).__name__} cannot give new VMs a download URL for "
                           f"{self.job_storage()[0].backend} storage (a backend bug: it must override download_url).")

    def heartbeat(self, vm: VM) -> dict[str, Any] | None:
        """The agent's last heartbeat document on ``vm``, or None."""
        storage = self.job_storage()[0]
        try:
            data = storage.get_object(storage.bucket, self._prefix(vm) + "agent.json")
            return dict(json.loads(data if isinstance(data, bytes) else data.read()))
        except Exception:
            return None

    # -- bringing VMs up ----------------------------------------------------------------------------------------
    def _wanted_vms(self, executor_id: str) -> list[VM]:
        provider = self.provider
        if self.mode == "consume":
            vms = provider.named()
            stopped = [vm for vm in vms if vm.state in ("stopped", "stopping")]
            if stopped:
                provider.start(stopped)
            return vms
        wanted = self.max_workers
        # VMs another executor created for itself (create mode) are deleted when it closes: never reused
        vms = [] if self.mode == "create" else [vm for vm in provider.list_vms() if vm.state not in ("terminated",)
                                                and vm.extra.get("lithops_exec_mode") != "create"]
        stopped = [vm for vm in vms if vm.state in ("stopped", "stopping")]
        if stopped:
            provider.start(stopped)
        if len(vms) < wanted:
            user_data = None if provider.installs_over_ssh else self.user_data(None, self.code_url())
            new = provider.create(wanted - len(vms), spot=bool(self.config.get("request_spot_instances")),
                                  user_data=user_data,
                                  tags={"lithops_cluster": self.cluster, "lithops_executor": executor_id,
                                        "lithops_exec_mode": self.mode})
            if self.mode == "create":  # reuse mode keeps them for the next executors
                self._created += new
            vms += new
        return vms

    def _bring_up(self, vm: VM) -> dict[str, Any]:
        """Make sure ``vm`` runs a current agent; return its heartbeat."""
        timeout = float(self.config["start_timeout"])
        self._vms[vm.id] = vm
        digest = self.bundle()[1]
        beat = self.heartbeat(vm)
        if (beat and vm.state == "running" and vm.id not in self._lost and not beat.get("error")
                and beat.get("config_digest") == config_digest(self.agent_config(vm))
                and time.time() - beat["time"] < FRESH_SEC):
            return beat  # warm: its agent runs this client's code and config
        # a heartbeat written before now may be a dead agent's (a VM stopped underneath): only a new one counts
        before = (beat.get("pid"), beat.get("seq")) if beat else None
        vm = self._vms[vm.id] = self.provider.wait_ready(vm, timeout)
        pid = None
        if self.provider.installs_over_ssh:
            runtime = str(self.setting(vm, "runtime") or "python3")
            found = self.provider.python_version(vm)
            if found is not None and found != client_python():
                raise mismatch_error(vm, found, runtime, self.section)
            bundle, digest = self.bundle()
            code, out, err = self.provider.install_agent(vm, {code_path(self._dir(), digest): bundle},
                                                         self._script(vm))
            if code == EXIT_PYTHON_MISMATCH:
                raise mismatch_error(vm, out.split(MISMATCH_MARK, 1)[-1].strip(), runtime, self.section)
            if code == EXIT_NO_PYTHON:
                raise BackendError(f"{vm.name} has no Python '{runtime}' ({err.strip()[-200:]}): install Python "
                                   f"{client_python()} there (apt-get install python3; docker for a container "
                                   f"image) or set {self.section}.runtime to its path.")
            if code == EXIT_PACKAGES:
                raise BackendError(f"{vm.name}: installing extra_apt_packages/extra_python_packages failed: "
                                   f"{err.strip()[-500:]}. Check the package names.")
            if code != 0:
                raise BackendError(f"{vm.name}: the agent's install script failed (exit {code}): "
                                   f"{(err or out).strip()[-500:]}")
            pid = int(out.rsplit("LITHOPS-AGENT-STARTED", 1)[-1].split()[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            beat = self.heartbeat(vm)
            if beat and pid is None and (beat.get("pid"), beat.get("seq")) == before:
                beat = None
            if beat and (pid is None or beat.get("pid") == pid) and beat.get("code_digest") == digest:
                if beat.get("error"):
                    raise BackendError(str(beat["error"]))
                return beat
            if beat and pid is None and vm.id not in self._lost:
                raise BackendError(  # its agent came with the VM's user data: without SSH it cannot be replaced
                    f"{vm.name} runs an agent with other Lithops code (version {beat.get('code_digest')}, this "
                    f"client's is {digest}): it was set up by another Lithops version or with other packages. "
                    f"Remove the cluster's VMs (lithops clean --all) so that new ones are made, or use "
                    f"exec_mode: create.")
            time.sleep(0.1)
        raise BackendError(f"the agent on {vm.name} did not start within {timeout:g} s (start_timeout). Its log "
                           f"on the VM: {agent_dir(self._dir(), vm.id)}/agent.log.")

    def ready_vms(self, executor_id: str) -> list[VM]:
        """The VMs with a running agent: brought up on first use, and again after their agent was lost. A VM that
        could not be brought up is not tried again by this backend (``workers_policy: permissive``).
        """
        with self._lock:
            if self._wanted is None:
                self._wanted = self._wanted_vms(executor_id)
                if not self._wanted:
                    raise BackendError(f"{self.section}: no VM to run on; check the config.")
            missing = [vm for vm in self._wanted if vm.id not in self._ready and vm.id not in self._failed]
            if not missing:
                return [self._vms[i] for i in self._ready]
            failures: list[str] = []
            with ThreadPoolExecutor(len(missing)) as pool:
                for vm, outcome in zip(missing, pool.map(self._try_bring_up, missing), strict=True):
                    if isinstance(outcome, BaseException):
                        failures.append(str(outcome))
                        self._failed.add(vm.id)
                    else:
                        self._ready[vm.id] = outcome
                        self._lost.discard(vm.id)
                        self._beats[vm.id] = (outcome.get("seq"), time.monotonic())
            policy = self.config.get("workers_policy") or "permissive"
            if failures and (policy == "strict" or not self._ready):
                why = " (workers_policy: strict)" if self._ready else ""
                self._ready.clear()
                self._failed.clear()
                self._wanted = None
                raise BackendError(f"{len(failures)} of {len(missing)} VMs could not be used{why}:\n  "
                                   + "\n  ".join(failures))
            for failure in failures:
                logger.warning("Going on without a VM (workers_policy: permissive): %s", failure)
            return [self._vms[i] for i in self._ready]

    def _try_bring_up(self, vm: VM) -> dict[str, Any] | BaseException:
        try:
            return self._bring_up(vm)
        except Exception as exc:
            return exc if isinstance(exc, BackendError) else BackendError(f"{vm.name}: {type(exc).__name__}: {exc}")

    # -- the contract -------------------------------------------------------------------------------------------
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Queue the job's payloads on the VMs, in proportion to their worker processes."""
        vms = self.ready_vms(job.executor_id)
        slots = [vm for vm in vms for _ in range(int(self._ready[vm.id].get("worker_processes") or 1))]
        groups: dict[str, list[dict[str, Any]]] = {}
        for ids in job.chunks():
            vm = slots[self._next % len(slots)]
            self._next += 1
            groups.setdefault(vm.id, []).append(job.worker_payload(ids))
        storage = self.job_storage()[0]
        name = f"{job.job_key}-{time.time_ns()}.json"
        for vm_id, payloads in groups.items():
            with self._lock:
                self._outstanding.setdefault(vm_id, []).append((name, payloads, report))
            storage.put_object(storage.bucket, f"{self._prefix(self._vms[vm_id])}queue/{name}",
                               json.dumps(payloads).encode())
        self._start_watch()

    def cancel(self, job_keys: Collection[str]) -> None:
        """Keep the calls of these jobs that have not started from starting, on every VM."""
        storage = self.job_storage()[0]
        with self._lock:
            vms = [self._vms[vm_id] for vm_id in self._ready]
        for vm in vms:
            for key in storage.list_keys(storage.bucket, self._prefix(vm) + "queue/"):
                name = key.rsplit("/", 1)[-1]
                if any(name.startswith(f"{job_key}-") for job_key in job_keys):
                    storage.delete_object(storage.bucket, key)
                    with self._lock:
                        self._outstanding[vm.id] = [i for i in self._outstanding.get(vm.id, []) if i[0] != name]
            for job_key in job_keys:
                storage.put_object(storage.bucket, f"{self._prefix(vm)}cancel/{job_key}", b"")

    def _start_watch(self) -> None:
        with self._lock:
            if self._watch is None or not self._watch.is_alive():
                self._watch = threading.Thread(target=self._watch_loop, daemon=True, name="lithops-standalone-watch")
                self._watch.start()

    def _watch_loop(self) -> None:
        while not self._closed.wait(WATCH_SEC):
            with self._lock:
                busy = [vm_id for vm_id, items in self._outstanding.items() if items]
            if not busy:
                return
            for vm_id in busy:
                try:
                    self._look_at(vm_id)
                except Exception as exc:  # storage hiccup: look again next time
                    logger.debug("watching %s: %s", vm_id, exc)

    def _look_at(self, vm_id: str) -> None:
        vm = self._vms[vm_id]
        beat = self.heartbeat(vm)
        now = time.monotonic()
        seq = beat.get("seq") if beat else None
        last_seq, since = self._beats.get(vm_id, (None, now))
        if seq is not None and seq != last_seq:
            self._beats[vm_id] = (seq, now)
            assert beat is not None
            self._report_broken(vm, beat.get("broken") or [])
            finished = set(beat.get("finished") or [])
            with self._lock:
                self._outstanding[vm_id] = [item for item in self._outstanding[vm_id] if item[0] not in finished]
            return
        if beat and beat.get("error"):
            self._agent_lost(vm, str(beat["error"]))
        elif now - since > STALE_SEC:
            self._agent_lost(vm, f"the agent on {vm.name} stopped (no heartbeat for {now - since:.0f} s: killed, "
                                 f"or the VM was stopped). Its log on the VM: "
                                 f"{agent_dir(self._dir(), vm.id)}/agent.log")

    def _report_broken(self, vm: VM, broken: list[dict[str, Any]]) -> None:
        """Fail the calls of payloads that the agent could not run at all (no status could be written)."""
        if not broken:
            return
        with self._lock:
            items = list(self._outstanding.get(vm.id, []))
        for entry in broken:
            error = WorkerDiedError(f"the worker on {vm.name} could not run the calls: {entry['error']}")
            for _, payloads, report in items:
                if any(p["executor_id"] == entry["executor_id"] and p["job_id"] == entry["job_id"]
                       for p in payloads):
                    for call_id in entry["call_ids"]:
                        report(failed_status(entry["executor_id"], entry["job_id"], call_id, error))
                    break

    def _agent_lost(self, vm: VM, why: str) -> None:
        """Fail the calls on ``vm`` that have no status; the next job starts its agent again."""
        from lithops.storage.utils import StorageNoSuchKeyError
        from lithops.worker.handler import status_key

        logger.warning("%s", why)
        with self._lock:
            items = self._outstanding.pop(vm.id, [])
            self._ready.pop(vm.id, None)
            self._lost.add(vm.id)  # its last heartbeat may still look recent: start a new agent, do not trust it
        storage = self.job_storage()[0]
        for key in storage.list_keys(storage.bucket, self._prefix(vm) + "queue/"):
            storage.delete_object(storage.bucket, key)
        error = WorkerDiedError(f"{why}. Calls that had finished keep their results.")
        for _, payloads, report in items:
            for payload in payloads:
                for call_id in payload["call_ids"]:
                    try:
                        storage.head_object(storage.bucket,
                                            status_key(payload["executor_id"], payload["job_id"], call_id))
                    except StorageNoSuchKeyError:
                        report(failed_status(payload["executor_id"], payload["job_id"], call_id, error))

    def vms(self) -> list[tuple[VM, dict[str, Any] | None]]:
        """Every VM of this backend's cluster (or config) and its agent's heartbeat (``lithops worker list``)."""
        found = self.provider.named() if self.mode == "consume" else self.provider.list_vms()
        return [(vm, self.heartbeat(vm)) for vm in found]

    def find_vm(self, name: str | None) -> VM:
        """The VM called ``name`` (its name, id or address), or the first one (the master) when None.

        Raises:
            BackendError: no such VM; the message lists the ones there are.
        """
        vms = [vm for vm, _ in self.vms()]
        if not vms:
            raise BackendError(f"backend {self.section} has no VM: run a job first.")
        if name is None:
            return vms[0]
        for vm in vms:
            if name in (vm.name, vm.id, vm.address):
                return vm
        raise BackendError(f"no VM called {name!r}; there are: {', '.join(vm.name for vm in vms)}.")

    def clean_all(self) -> list[VM]:
        """Delete every VM of the cluster, or in ``consume`` mode give the user's VMs back (their agents stopped,
        their folders removed, :meth:`VMProvider.release`; the VMs stay); then delete the cluster's objects in
        storage. Return the VMs (``lithops clean --all``).
        """
        vms = [vm for vm, _ in self.vms()]
        if vms and self.mode == "consume":
            self._give_back(vms)
        elif vms:
            self.provider.delete(vms)
        storage = self.job_storage()[0]
        keys = storage.list_keys(storage.bucket, f"{PREFIX}/{self.cluster}/")
        if keys:
            storage.delete_objects(storage.bucket, keys)
        return vms

    def _give_back(self, vms: list[VM]) -> None:
        for vm in vms:
            try:
                code, _, err = self.provider.install_agent(vm, {}, removal_script(self._dir(), vm.id))
                if code != 0:
                    logger.warning("could not remove the agent from %s (exit %d): %s", vm.name, code, err.strip())
            except BackendError as exc:  # a VM that is off or unreachable keeps its files; nothing else is lost
                logger.warning("could not remove the agent from %s: %s", vm.name, exc)
        self.provider.release(vms)

    def close(self) -> None:
        """Stop watching; delete the VMs made for this executor (``exec_mode: create``)."""
        self._closed.set()
        if self._created:
            self.provider.delete(self._created)
            self._created = []
        if self._provider is not None:
            self._provider.close()

    @property
    def max_workers(self) -> int:
        """Calls that run at once: the worker processes of the VMs with an agent (``max_workers`` before)."""
        if self._ready:
            return sum(int(b.get("worker_processes") or 1) for b in self._ready.values())
        value = self.config.get("max_workers")  # providers that make VMs declare it; fixed hosts do not
        return 1 if value is None else int(value)
