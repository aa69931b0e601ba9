"""The Compute Engine VM life cycle, as a :class:`lithops.standalone.provider.VMProvider` (google-cloud-compute, REST).

VMs that Lithops creates (``exec_mode`` ``create`` and ``reuse``) get the kernel's bootstrap as their
``startup-script`` metadata, which Compute Engine runs as root at every boot: each VM asks the metadata server for
its name, downloads the client's code from Cloud Storage with an access token of its own service account (no signed
URL, so no signing key on the client) and starts the agent, which works through the bucket with the same service
account. No SSH, no inbound port. In ``consume`` mode the VM is the user's: the agent is installed on it over SSH.
VMs carry the label ``lithops_cluster``; the VM's id in Lithops is its instance name.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.cloud import compute_v1

from lithops.errors import BackendError, ConfigError
from lithops.standalone.backend import default_image
from lithops.standalone.provider import VM, MetadataRequest, VMProvider, metadata_command, named_vm
from lithops_gcp.auth import load_credentials, project_of, translate

logger = logging.getLogger(__name__)

#: The default boot image for each client Python: a public image family whose ``python3`` is that version.
DEFAULT_IMAGES = {
    "3.10": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
    "3.11": "projects/debian-cloud/global/images/family/debian-12",
    "3.12": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64",
    "3.13": "projects/debian-cloud/global/images/family/debian-13",
}
#: The machine type of the VMs when the config names none.
DEFAULT_TYPE = "e2-standard-2"
#: What the VMs' service account may do from the VM (its IAM roles say what it is allowed).
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
#: Seconds between two looks at the VMs' states.
POLL_SEC = 1.0
#: Seconds a create, start, stop or delete operation may take.
OPERATION_SEC = 300.0
_METADATA = "http://169.254.169.254/computeMetadata/v1/instance/"
#: The VM's own instance name, from the metadata server (which refuses requests without ``Metadata-Flavor``).
METADATA_NAME = metadata_command(MetadataRequest(f"{_METADATA}name", {"Metadata-Flavor": "Google"}))
#: ``Bearer <token>`` of the VM's service account, from the metadata server: the code zip's download needs it.
METADATA_TOKEN = metadata_command(MetadataRequest(f"{_METADATA}service-accounts/default/token",
                                                  {"Metadata-Flavor": "Google"}, json_key="access_token"),
                                  prefix="Bearer ")
#: Compute Engine's instance states, in Lithops's words.
_STATES = {"PROVISIONING": "pending", "STAGING": "pending", "RUNNING": "running", "STOPPING": "stopping",
           "SUSPENDING": "stopping", "REPAIRING": "pending", "TERMINATED": "stopped", "STOPPED": "stopped",
           "SUSPENDED": "stopped"}
#: What to do about the errors of a failed operation, by Compute Engine's error code.
_HINTS = {
    "QUOTA_EXCEEDED": "ask for more quota (IAM & Admin > Quotas), or lower max_workers or use a smaller "
                      "machine_type",
    "ZONE_RESOURCE_POOL_EXHAUSTED": "try another zone (gcp_compute_engine.zone) or again later",
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS": "try another zone (gcp_compute_engine.zone) or again later",
}


def label_value(text: str) -> str:
    """``text`` as a label value: lowercase letters, digits, ``-`` and ``_``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def zone_of(config: Mapping[str, Any]) -> str:
    """``zone``, else zone ``b`` of ``region``."""
    if config.get("zone"):
        return str(config["zone"])
    if config.get("region"):
        return f"{config['region']}-b"
    raise ConfigError("gcp_compute_engine needs a zone: set gcp_compute_engine.zone (e.g. us-east1-b) or gcp.region.")


def _operation_error(operation: compute_v1.Operation) -> str | None:
    """The messages of a failed operation's errors (its HTTP status text says little) with what to do, or None."""
    errors = list(operation.error.errors)
    if not errors:
        return f"{operation.http_error_message}" if operation.http_error_status_code else None
    text = "; ".join(f"{e.code}: {e.message}" if e.code else e.message for e in errors)
    hints = dict.fromkeys(_HINTS[e.code] for e in errors if e.code in _HINTS)
    return text + (f" ({'; '.join(hints)})" if hints else "")


def _exec_mode(labels: Mapping[str, str]) -> dict[str, str]:
    """``VM.extra`` of a VM with these labels: the exec mode of the executor that created it, if known."""
    return {"lithops_exec_mode": labels["lithops_exec_mode"]} if "lithops_exec_mode" in labels else {}


class ComputeEngineVMs(VMProvider):
    """Compute Engine instances labelled ``lithops_cluster=<cluster>`` (or ``instance_name`` in consume mode)."""

    vm_id_command = METADATA_NAME
    code_auth_command = METADATA_TOKEN
    #: Compute Engine runs the startup-script at every boot: a started VM starts its agent again by itself
    reruns_user_data = True

    def __init__(self, config: Mapping[str, Any], cluster: str) -> None:
        super().__init__(config, cluster)
        self.endpoint = self.config.get("api_endpoint")
        credentials, found = load_credentials(self.config, anonymous_ok=bool(self.endpoint))
        self.project = project_of(self.config, found)
        self.zone = zone_of(self.config)
        options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
        self.instances = compute_v1.InstancesClient(credentials=credentials, transport="rest", client_options=options)
        # the instance client's own operation polling ignores client_options: operations are waited for with this
        self.operations = compute_v1.ZoneOperationsClient(credentials=credentials, transport="rest",
                                                          client_options=options)
        self.mode = str(self.config.get("exec_mode") or "reuse")
        #: consume mode: the VM is the user's, so the agent is installed on it over SSH
        self.installs_over_ssh = self.mode == "consume"
        #: the error of each VM that :meth:`start` could not start
        self._not_started: dict[str, str] = {}

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        """Google failures inside as Lithops errors: general ones translated, any other a BackendError with
        Compute Engine's message.
        """
        try:
            yield
        except api_exceptions.GoogleAPICallError as exc:
            new = translate(exc, f"Compute Engine {what}", self.endpoint)
            if new is not exc:
                raise new from exc
            raise BackendError(f"Compute Engine {what} in zone {self.zone} failed: {exc.message}") from None
        except Exception as exc:
            new = translate(exc, f"Compute Engine {what}", self.endpoint)
            if new is exc:
                raise
            raise new from exc

    def _wait(self, operations: list[tuple[str, compute_v1.Operation]], what: str) -> dict[str, str]:
        """Wait for each ``(instance name, zone operation)``; return the errors of those that failed, by name."""
        failures = {}
        deadline = time.monotonic() + OPERATION_SEC
        for name, operation in operations:
            while operation.status != compute_v1.Operation.Status.DONE:
                if time.monotonic() > deadline:
                    failures[name] = f"the {what} operation was still running after {OPERATION_SEC:g} s"
                    break
                time.sleep(POLL_SEC / 2)
                with self._calls("zoneOperations.get"):
                    operation = self.operations.get(project=self.project, zone=self.zone, operation=operation.name)
            else:
                error = _operation_error(operation)
                if error:
                    failures[name] = error
        return failures

    @staticmethod
    def _raise_for(failures: Mapping[str, str], heading: str) -> None:
        """A BackendError listing ``failures`` (name -> error) under ``heading``, if there are any."""
        if failures:
            raise BackendError(f"{heading}:\n  " + "\n  ".join(f"{name}: {error}" for name, error in failures.items()))

    # -- reading ---------------------------------------------------------------------------------------------
    def _vm(self, instance: compute_v1.Instance) -> VM:
        address = None
        if instance.network_interfaces:  # the external address, else the internal one
            interface = instance.network_interfaces[0]
            address = next((c.nat_i_p for c in interface.access_configs if c.nat_i_p), interface.network_i_p) or None
        return VM(id=instance.name, name=instance.name, address=address,
                  state=_STATES.get(instance.status, instance.status.lower()),
                  spot=instance.scheduling.provisioning_model == "SPOT" or bool(instance.scheduling.preemptible),
                  extra=_exec_mode(instance.labels))

    def _get(self, name: str) -> VM | None:
        """The instance called ``name``, or None when it does not exist."""
        with self._calls("instances.get"):
            try:
                return self._vm(self.instances.get(project=self.project, zone=self.zone, instance=name))
            except api_exceptions.NotFound:
                return None

    def list_vms(self) -> list[VM]:
        """The cluster's instances in the zone (any state)."""
        with self._calls("instances.list"):
            pages = self.instances.list(request=compute_v1.ListInstancesRequest(
                project=self.project, zone=self.zone, filter=f'labels.lithops_cluster = "{label_value(self.cluster)}"'))
            return [self._vm(instance) for instance in pages]

    def named(self) -> list[VM]:
        """``instance_name`` (consume mode)."""
        name = named_vm(self.config, "gcp_compute_engine", "instance_name", "name")
        vm = self._get(str(name))
        if vm is None:
            raise BackendError(f"VM {name} does not exist in zone {self.zone} of project {self.project}: fix "
                               f"gcp_compute_engine.instance_name (or zone).")
        return [vm]

    # -- the life cycle --------------------------------------------------------------------------------------
    def _instance(self, name: str, spot: bool, user_data: str | None, labels: Mapping[str, str]) -> compute_v1.Instance:
        """The insert request's instance."""
        items = [compute_v1.Items(key="startup-script", value=user_data)] if user_data else []
        key = self._public_key()
        if key:  # the guest agent makes the user and authorises the key: lithops attach logs in with it
            items.append(compute_v1.Items(key="ssh-keys", value=f"{self.config.get('ssh_username') or 'ubuntu'}:{key}"))
        interface = compute_v1.NetworkInterface(network=str(self.config.get("network") or "global/networks/default"))
        if self.config.get("subnetwork"):
            interface.subnetwork = str(self.config["subnetwork"])
        if self.config.get("external_ip", True):
            interface.access_configs = [compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")]
        instance = compute_v1.Instance(
            name=name, machine_type=f"zones/{self.zone}/machineTypes/{self.config.get('machine_type') or DEFAULT_TYPE}",
            labels=dict(labels),
            disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True, initialize_params=(
                compute_v1.AttachedDiskInitializeParams(source_image=self._image(),
                                                        disk_size_gb=int(self.config.get("disk_size") or 10))))],
            network_interfaces=[interface], metadata=compute_v1.Metadata(items=items),
            service_accounts=[compute_v1.ServiceAccount(email=str(self.config.get("service_account") or "default"),
                                                        scopes=SCOPES)])
        if spot:
            delete = self.mode == "create" and self.config.get("delete_on_dismantle", True)
            instance.scheduling = compute_v1.Scheduling(provisioning_model="SPOT", automatic_restart=False,
                                                        on_host_maintenance="TERMINATE",
                                                        instance_termination_action="DELETE" if delete else "STOP")
        return instance

    def create(self, count: int, *, spot: bool = False, user_data: str | None = None,
               tags: Mapping[str, str] | None = None) -> list[VM]:
        """Insert ``count`` instances of ``machine_type`` (Spot VMs when ``spot``) whose startup-script is
        ``user_data``, and wait for the inserts; VMs that could be made are returned, an error only when none could.
        """
        labels = {"lithops_cluster": label_value(self.cluster),
                  **{k: label_value(str(v)) for k, v in (tags or {}).items()},
                  **{str(k): str(v) for k, v in (self.config.get("labels") or {}).items()}}
        prefix = label_value(self.cluster).strip("-_").replace("_", "-")[:48] or "lithops"
        if not prefix[0].isalpha():
            prefix = f"lithops-{prefix}"[:48]
        names = [f"{prefix}-{secrets.token_hex(3)}" for _ in range(count)]
        logger.info("Creating %d %s VM(s) in %s for cluster %s", count, self.config.get("machine_type"), self.zone,
                    self.cluster)
        operations = []
        refused: dict[str, str] = {}
        for name in names:
            try:
                with self._calls("instances.insert"):
                    operations.append((name, self.instances.insert_unary(
                        project=self.project, zone=self.zone,
                        instance_resource=self._instance(name, spot, user_data, labels))))
            except BackendError as exc:
                if not operations:
                    raise  # the same request would be refused for every VM
                refused[name] = str(exc)
        failures = {**refused, **self._wait(operations, "insert")}
        made = [name for name, _ in operations if name not in failures]
        if not made:
            self._raise_for(failures, f"no Compute Engine VM could be created in zone {self.zone}")
        for name, failure in failures.items():
            logger.warning("VM %s could not be created: %s", name, failure)
        return [VM(id=name, name=name, state="pending", spot=spot, extra=_exec_mode(labels)) for name in made]

    def start(self, vms: list[VM]) -> None:
        """Start these VMs; VMs still stopping are started once stopped (Compute Engine refuses them before). A VM
        that cannot be started is not an error here: :meth:`wait_ready` raises it for that VM alone.
        """
        if not vms:
            return
        found: dict[str, VM] = {}

        def states() -> dict[str, str]:
            found.clear()
            found.update((vm.name, vm) for vm in (self._get(vm.id) for vm in vms) if vm is not None)
            return {name: vm.state for name, vm in found.items()}

        self.settled_states(states, poll_sec=POLL_SEC)
        operations = []
        for vm in found.values():
            if vm.state == "stopped":
                logger.info("Starting stopped VM %s", vm.name)
                with self._calls("instances.start"):
                    operations.append((vm.name, self.instances.start_unary(project=self.project, zone=self.zone,
                                                                     instance=vm.name)))
        # a VM that cannot start (no quota or capacity left) fails alone, in wait_ready: the others may run the job
        for name, failure in self._wait(operations, "start").items():
            logger.warning("VM %s could not be started: %s", name, failure)
            self._not_started[name] = failure

    def stop(self, vms: list[VM]) -> None:
        """Stop these VMs (their disks are kept)."""
        operations = []
        for vm in vms:
            with self._calls("instances.stop"):
                operations.append((vm.name, self.instances.stop_unary(project=self.project, zone=self.zone,
                                                                instance=vm.name)))
        self._raise_for(self._wait(operations, "stop"), "Compute Engine could not stop VMs")

    def delete(self, vms: list[VM]) -> None:
        """Delete these VMs and their boot disks (VMs already gone are skipped)."""
        operations = []
        for vm in vms:
            with self._calls("instances.delete"):
                try:
                    operations.append((vm.name, self.instances.delete_unary(project=self.project, zone=self.zone,
                                                                      instance=vm.name)))
                except api_exceptions.NotFound:
                    continue
        self._raise_for(self._wait(operations, "delete"), "Compute Engine could not delete VMs")

    def wait_ready(self, vm: VM, timeout: float) -> VM:
        """Wait until ``vm`` runs (and, in consume mode, has an address to log in to)."""
        if vm.id in self._not_started:
            raise BackendError(f"VM {vm.name} could not be started: {self._not_started.pop(vm.id)}")
        def look() -> VM:
            found = self._get(vm.id)
            if found is None:
                raise BackendError(f"VM {vm.name} no longer exists (a Spot VM taken back, or deleted by someone): run "
                                   f"the job again for a new VM.")
            return found

        return self.poll_ready(vm.name, timeout, look, poll_sec=POLL_SEC,
                               hint="; its serial port output in the Cloud Console may say why")

    # -- what VMs are made with ------------------------------------------------------------------------------
    def _image(self) -> str:
        if self.config.get("source_image"):
            return str(self.config["source_image"])
        return default_image(DEFAULT_IMAGES, "Compute Engine", "gcp_compute_engine.source_image",
                             " (or set gcp_compute_engine.runtime to a container image with it)")

    def _public_key(self) -> str | None:
        """The public key of ``ssh_key_filename`` (its ``.pub`` file), if there is one."""
        private = self.config.get("ssh_key_filename")
        if not private:
            return None
        try:
            with open(os.path.expanduser(str(private)) + ".pub", encoding="utf-8") as f:
                return f.read().strip() or None
        except OSError:
            logger.warning("No %s.pub next to ssh_key_filename: the VMs get no SSH key (lithops attach needs one)",
                           private)
            return None

    def close(self) -> None:
        """Close the API client's connections."""
        self.instances.transport.close()
        self.operations.transport.close()
