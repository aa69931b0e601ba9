"""The Azure VM life cycle, as a :class:`lithops.standalone.provider.VMProvider` (azure-mgmt-compute and
azure-mgmt-network).

VMs that Lithops creates (``exec_mode`` ``create`` and ``reuse``) boot with the kernel's bootstrap as their
``customData``, which cloud-init runs as root at the first boot: each VM asks Azure's instance metadata service its
own name, downloads the client's code from a blob SAS URL and starts the agent; the bootstrap copies itself into
cloud-init's per-boot scripts, so a VM that was deallocated starts its agent again when it is started. No inbound
port is needed. Each VM gets its own NIC (and public IP address unless ``public_ip`` is false), made with
``deleteOption: Delete`` so that Azure deletes them, and the OS disk, with the VM; the virtual network, subnet and
network security group are shared by the cluster and kept. In ``consume`` mode the VM is the user's
(``instance_name``): the agent is installed on it over SSH.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from lithops.errors import BackendError
from lithops.standalone.backend import default_image
from lithops.standalone.provider import VM, MetadataRequest, VMProvider, metadata_command, named_vm
from lithops_azure.arm import arm_client, wait
from lithops_azure.auth import AZURE_ERRORS, azure_errors, error_code, required, translate

logger = logging.getLogger(__name__)

#: The default image for each client Python: a platform image whose ``python3`` is that version.
DEFAULT_IMAGES = {
    "3.10": "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest",
    "3.11": "Debian:debian-12:12-gen2:latest",
    "3.12": "Canonical:ubuntu-24_04-lts:server:latest",
    "3.13": "Debian:debian-13:13-gen2:latest",
}
#: The VM's own name, from Azure's instance metadata service (which requires the ``Metadata: true`` header).
IMDS_VM_NAME = metadata_command(MetadataRequest(
    "http://169.254.169.254/metadata/instance/compute/name?api-version=2021-02-01&format=text", {"Metadata": "true"}))
#: Seconds between two looks at a VM's state.
POLL_SEC = 1.0
#: Seconds to wait for the network pieces and each VM's creation.
CREATE_TIMEOUT = 900.0
_SECTION = "azure_vms"
_POWER = {"starting": "pending", "running": "running", "stopping": "stopping", "deallocating": "stopping",
          "stopped": "stopped", "deallocated": "stopped"}


def _as_dict(model: Any) -> dict[str, Any]:
    """An SDK model as its REST JSON."""
    return dict(model.as_dict()) if hasattr(model, "as_dict") else dict(model or {})


def _call(what: str, namespace: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; Azure's refusals as Lithops errors with Azure's code and message (a missing resource
    stays a ``ResourceNotFoundError``, which callers handle).
    """
    try:
        return fn(*args, **kwargs)
    except AZURE_ERRORS as exc:
        new = translate(exc, what, namespace)
        if new is exc and not isinstance(exc, ResourceNotFoundError):
            error = getattr(exc, "error", None)
            new = BackendError(f"{what} failed: {error_code(exc)}: {getattr(error, 'message', None) or exc}")
        if new is exc:
            raise
        raise new from exc


def _run(what: str, namespace: str, begin: Any, *args: Any) -> Any:
    """Start a long-running operation and wait for its result (see :func:`_call`)."""
    return _call(what, namespace, lambda: wait(begin(*args), what, namespace, CREATE_TIMEOUT))


def _state(view: Mapping[str, Any]) -> str:
    """The provider's state of a VM from its instance view."""
    codes = dict(str(s.get("code", "")).split("/", 1) for s in view.get("statuses") or [] if "/" in s.get("code", ""))
    provisioning = codes.get("ProvisioningState", "").lower()
    if provisioning == "deleting":
        return "terminated"
    if provisioning == "failed":
        return "failed"
    return _POWER.get(codes.get("PowerState", "").lower(), "pending")


class AzureVMs(VMProvider):
    """Azure VMs of ``resource_group`` tagged ``lithops_cluster=<cluster>`` (or ``instance_name`` in consume
    mode).
    """

    vm_id_command = IMDS_VM_NAME

    def __init__(self, config: Mapping[str, Any], cluster: str) -> None:
        super().__init__(config, cluster)
        how = "'az group list -o table' lists yours."
        self.group = required(self.config, "resource_group", _SECTION, how)
        self.region = str(self.config.get("region") or "")
        with azure_errors("azure_vms clients", "Microsoft.Compute"):
            self.compute = arm_client(ComputeManagementClient, self.config, _SECTION)
            self.network = arm_client(NetworkManagementClient, self.config, _SECTION)
        self.mode = str(self.config.get("exec_mode") or "reuse")
        #: consume mode: the VM is the user's, so the agent is installed on it over SSH
        self.installs_over_ssh = self.mode == "consume"
        self._net: tuple[str, str] | None = None
        #: the start operations under way, and the error of each VM whose start was refused, by name
        self._starts: dict[str, Any] = {}
        self._not_started: dict[str, str] = {}

    # -- reading ---------------------------------------------------------------------------------------------
    def _view(self, name: str) -> dict[str, Any]:
        with azure_errors(f"Azure VM {name} instance view", "Microsoft.Compute"):
            return _as_dict(self.compute.virtual_machines.instance_view(self.group, name))

    def _vm(self, resource: Mapping[str, Any]) -> VM:
        """The VM of a resource document, with its state from its instance view."""
        props = resource.get("properties") or {}
        tags = resource.get("tags") or {}
        image = (props.get("storageProfile") or {}).get("imageReference") or {}
        name = str(resource["name"])
        return VM(id=name, name=name, state=_state(self._view(name)),
                  image=image.get("id") or ":".join(str(image.get(k, "")) for k in ("publisher", "offer", "sku",
                                                                                    "version")),
                  spot=props.get("priority") == "Spot",
                  extra={"lithops_exec_mode": tags["lithops_exec_mode"]} if "lithops_exec_mode" in tags else {})

    def list_vms(self) -> list[VM]:
        """The cluster's VMs in the resource group, but those being deleted."""
        with azure_errors(f"listing the VMs of resource group {self.group}", "Microsoft.Compute"):
            found = [_as_dict(r) for r in self.compute.virtual_machines.list(self.group)]
        mine = [r for r in found if (r.get("tags") or {}).get("lithops_cluster") == self.cluster]
        vms = []
        for resource in mine:
            try:
                vms.append(self._vm(resource))
            except ResourceNotFoundError:  # deleted meanwhile
                continue
        return [vm for vm in vms if vm.state != "terminated"]

    def named(self) -> list[VM]:
        """``instance_name`` (consume mode)."""
        name = named_vm(self.config, "azure_vms", "instance_name", "name")
        try:
            with azure_errors(f"Azure VM {name}", "Microsoft.Compute"):
                return [self._vm(_as_dict(self.compute.virtual_machines.get(self.group, str(name))))]
        except ResourceNotFoundError:
            raise BackendError(f"VM {name} does not exist in resource group {self.group}: fix "
                               f"azure_vms.instance_name.") from None

    # -- the life cycle --------------------------------------------------------------------------------------
    def create(self, count: int, *, spot: bool = False, user_data: str | None = None,
               tags: Mapping[str, str] | None = None) -> list[VM]:
        """Create ``count`` VMs of ``worker_instance_type`` (Spot ones when ``spot``) booting with ``user_data``
        as customData, each with its own NIC (and public IP); VMs that fail are deleted with what was made for them.
        """
        if not self.region:
            raise BackendError("azure_vms needs a region for new VMs: set azure.region (e.g. westeurope).")
        body = self._vm_body(spot, user_data, {
            "lithops_cluster": self.cluster, **(tags or {}),
            **{str(k): str(v) for k, v in (self.config.get("user_tags") or {}).items()}})
        subnet, group = self._network_pieces()
        names = [f"{self.cluster}-{uuid.uuid4().hex[:8]}"[-64:].lstrip("-.") for _ in range(count)]
        logger.info("Creating %d %s VM(s) for cluster %s", count,
                    body["properties"]["hardwareProfile"]["vmSize"], self.cluster)
        with ThreadPoolExecutor(min(count, 16)) as pool:
            outcomes = list(pool.map(lambda name: self._create_one(name, body, subnet, group), names))
        made = [o for o in outcomes if isinstance(o, VM)]
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures and not made:
            raise failures[0]
        for failure in failures:
            logger.warning("A VM could not be created (going on with %d): %s", len(made), failure)
        return made

    def _create_one(self, name: str, body: Mapping[str, Any], subnet: str, group: str) -> VM | BaseException:
        nic_name, ip_name = f"{name}-nic", f"{name}-ip"
        try:
            tags = body["tags"]
            config: dict[str, Any] = {"subnet": {"id": subnet}, "privateIPAllocationMethod": "Dynamic"}
            if self.config.get("public_ip", True):
                ip = _run(f"creating public IP {ip_name}", "Microsoft.Network",
                          self.network.public_ip_addresses.begin_create_or_update, self.group, ip_name, {
                              "location": self.region, "tags": tags, "sku": {"name": "Standard"},
                              "properties": {"publicIPAllocationMethod": "Static"}})
                config["publicIPAddress"] = {"id": _as_dict(ip)["id"], "properties": {"deleteOption": "Delete"}}
            nic = _run(f"creating NIC {nic_name}", "Microsoft.Network",
                       self.network.network_interfaces.begin_create_or_update, self.group, nic_name, {
                           "location": self.region, "tags": tags,
                           "properties": {"networkSecurityGroup": {"id": group},
                                          "ipConfigurations": [{"name": "ipconfig1", "properties": config}]}})
            vm_body = dict(body)
            vm_body["properties"] = dict(body["properties"], networkProfile={"networkInterfaces": [
                {"id": _as_dict(nic)["id"], "properties": {"primary": True, "deleteOption": "Delete"}}]})
            vm_body["properties"]["osProfile"] = dict(body["properties"]["osProfile"], computerName=name)
            made = _run(f"creating VM {name}", "Microsoft.Compute",
                        self.compute.virtual_machines.begin_create_or_update, self.group, name, vm_body)
            return self._vm(_as_dict(made))
        except Exception as exc:
            self._remove(name, nic_name, ip_name)
            return exc if isinstance(exc, BackendError) else BackendError(f"creating VM {name}: {exc}")

    def _remove(self, name: str, nic_name: str, ip_name: str) -> None:
        """Delete a VM that failed and what was made for it (each may not exist)."""
        steps = ((self.compute.virtual_machines, name, "Microsoft.Compute"),
                 (self.network.network_interfaces, nic_name, "Microsoft.Network"),
                 (self.network.public_ip_addresses, ip_name, "Microsoft.Network"))
        for operations, resource, namespace in steps:
            try:
                _run(f"deleting {resource}", namespace, operations.begin_delete, self.group, resource)
            except ResourceNotFoundError:
                pass
            except Exception as exc:  # the first failure is the one to report
                logger.warning("Could not delete %s after a failed creation: %s", resource, exc)

    def start(self, vms: list[VM]) -> None:
        """Start these VMs; VMs still deallocating or stopping are started once stopped (Azure refuses before). A VM
        Azure refuses to start (quota, capacity) fails alone, in :meth:`wait_ready`.
        """
        names = [vm.id for vm in vms]
        states = self.settled_states(lambda: {name: _state(self._view(name)) for name in names}, poll_sec=POLL_SEC)
        for name in [n for n, s in states.items() if s == "stopped"]:
            logger.info("Starting VM %s", name)
            try:
                self._starts[name] = _call(f"starting VM {name}", "Microsoft.Compute",
                                           self.compute.virtual_machines.begin_start, self.group, name)
            except BackendError as exc:  # e.g. the cores quota: that VM fails alone (wait_ready), not the others
                logger.warning("%s", exc)
                self._not_started[name] = str(exc)

    def stop(self, vms: list[VM]) -> None:
        """Deallocate these VMs (their disks are kept; their cores are no longer billed)."""
        for vm in vms:
            _call(f"deallocating VM {vm.id}", "Microsoft.Compute", self.compute.virtual_machines.begin_deallocate,
                  self.group, vm.id, polling=False)

    def delete(self, vms: list[VM]) -> None:
        """Delete these VMs; Azure deletes their OS disk, NIC and public IP with them (``deleteOption``)."""
        for vm in vms:
            try:
                _call(f"deleting VM {vm.id}", "Microsoft.Compute", self.compute.virtual_machines.begin_delete,
                      self.group, vm.id, polling=False)
            except ResourceNotFoundError:
                continue

    def wait_ready(self, vm: VM, timeout: float) -> VM:
        """Wait until ``vm`` runs; return it with its address (public IP, else private)."""
        def look() -> VM:
            if vm.id in self._not_started:
                raise BackendError(f"VM {vm.id} could not be started: {self._not_started.pop(vm.id)}")
            start = self._starts.get(vm.id)
            if start is not None and start.done():
                del self._starts[vm.id]
                _call(f"starting VM {vm.id}", "Microsoft.Compute", start.result)  # raises its failure
            try:
                state = _state(self._view(vm.id))
            except ResourceNotFoundError:
                state = "terminated"
            if state in ("terminated", "failed"):
                raise BackendError(f"VM {vm.id} is {'deleted' if state == 'terminated' else 'failed'} (a Spot VM "
                                   f"evicted, or deleted by someone): run the job again for a new VM"
                                   + (", after 'lithops clean --all' removes it." if state == "failed" else "."))
            if state == "running":
                vm.address = self._address(vm)
            vm.state = state
            return vm

        return self.poll_ready(vm.id, timeout, look, poll_sec=POLL_SEC)

    def address(self, vm: VM) -> str:
        """Where the client reaches ``vm`` (``lithops attach``): its public IP address, else its private one."""
        if not vm.address:
            vm.address = self._address(vm)
        return super().address(vm)

    def _address(self, vm: VM) -> str | None:
        with azure_errors(f"the address of VM {vm.id}", "Microsoft.Network"):
            resource = _as_dict(self.compute.virtual_machines.get(self.group, vm.id))
            nics = (resource.get("properties") or {}).get("networkProfile", {}).get("networkInterfaces") or []
            if not nics:
                return None
            nic = _as_dict(self.network.network_interfaces.get(self.group, str(nics[0]["id"]).rsplit("/", 1)[1]))
            config = ((nic.get("properties") or {}).get("ipConfigurations") or [{}])[0].get("properties") or {}
            public = (config.get("publicIPAddress") or {}).get("id")
            if public:
                ip = _as_dict(self.network.public_ip_addresses.get(self.group, str(public).rsplit("/", 1)[1]))
                if (ip.get("properties") or {}).get("ipAddress"):
                    return str(ip["properties"]["ipAddress"])
            return config.get("privateIPAddress")

    # -- what VMs are made with ------------------------------------------------------------------------------
    def _vm_body(self, spot: bool, user_data: str | None, tags: dict[str, str]) -> dict[str, Any]:
        user = str(self.config.get("ssh_username") or "ubuntu")
        os_profile: dict[str, Any] = {"adminUsername": user, **self._login(user)}
        if user_data:
            os_profile["customData"] = base64.b64encode(user_data.encode()).decode()
        props: dict[str, Any] = {
            "hardwareProfile": {"vmSize": str(self.config.get("worker_instance_type") or "Standard_B2s")},
            "storageProfile": {"imageReference": self._image(),
                               "osDisk": {"createOption": "FromImage", "deleteOption": "Delete",
                                          "managedDisk": {"storageAccountType": "StandardSSD_LRS"}}},
            "osProfile": os_profile,
        }
        if spot:
            props.update(priority="Spot", evictionPolicy="Delete", billingProfile={"maxPrice": -1})
        return {"location": self.region, "tags": tags, "properties": props}

    def _login(self, user: str) -> dict[str, Any]:
        """The login in osProfile: the public key of ``ssh_key_filename`` and/or ``ssh_password``; with neither, a
        random password nobody keeps (VMs made from customData need no login; Azure needs one).
        """
        linux: dict[str, Any] = {"disablePasswordAuthentication": False}
        login: dict[str, Any] = {"linuxConfiguration": linux}
        key_file = self.config.get("ssh_key_filename")
        if key_file:
            public = os.path.expanduser(str(key_file)) + ".pub"
            try:
                with open(public, encoding="utf-8") as f:
                    key = f.read().strip()
            except OSError as exc:
                raise BackendError(f"azure_vms.ssh_key_filename is {key_file}, but its public key {public} cannot "
                                   f"be read ({exc.strerror}): Azure puts that key on the VMs. Make it with "
                                   f"'ssh-keygen -y -f {key_file} > {public}'.") from None
            linux["ssh"] = {"publicKeys": [{"path": f"/home/{user}/.ssh/authorized_keys", "keyData": key}]}
        password = self.config.get("ssh_password")
        if password:
            login["adminPassword"] = str(password)
        elif key_file:
            linux["disablePasswordAuthentication"] = True
        else:
            login["adminPassword"] = "Lx7!" + secrets.token_urlsafe(24)
        return login

    def _image(self) -> dict[str, str]:
        image = str(self.config.get("image_id") or "")
        if not image:
            image = default_image(DEFAULT_IMAGES, "Azure", "azure_vms.image_id")
        if image.startswith("/"):
            return {"id": image}
        parts = image.split(":")
        if len(parts) != 4 or not all(parts):
            raise BackendError(f"azure_vms.image_id is {image!r}: give a platform image as publisher:offer:sku:version "
                               f"(e.g. {DEFAULT_IMAGES['3.12']}) or the resource id of an image.")
        return dict(zip(("publisher", "offer", "sku", "version"), parts, strict=True))

    def _network_pieces(self) -> tuple[str, str]:
        """The ids of the subnet and network security group of new VMs, found or created."""
        if self._net is not None:
            return self._net
        vnet_name = str(self.config.get("vnet_name") or "lithops-vnet")
        subnet_name = str(self.config.get("subnet_name") or "lithops-subnet")
        nsg_name = str(self.config.get("security_group_name") or "lithops-nsg")
        net = self.network

        def found(get: Any, *args: str) -> dict[str, Any] | None:
            try:
                return _as_dict(_call(f"reading {args[-1]}", "Microsoft.Network", get, self.group, *args))
            except ResourceNotFoundError:
                return None

        if found(net.virtual_networks.get, vnet_name) is None:
            logger.info("Creating the virtual network %s", vnet_name)
            _run(f"creating virtual network {vnet_name}", "Microsoft.Network",
                 net.virtual_networks.begin_create_or_update, self.group, vnet_name, {
                     "location": self.region, "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})
        subnet = found(net.subnets.get, vnet_name, subnet_name)
        if subnet is None:
            subnet = _as_dict(_run(f"creating subnet {subnet_name}", "Microsoft.Network",
                                   net.subnets.begin_create_or_update, self.group, vnet_name, subnet_name,
                                   {"properties": {"addressPrefix": "10.0.0.0/24"}}))
        nsg = found(net.network_security_groups.get, nsg_name)
        rules = list(((nsg or {}).get("properties") or {}).get("securityRules") or [])
        cidr = self.config.get("ssh_allowed_cidr")
        opened = {(r.get("properties") or {}).get("sourceAddressPrefix") for r in rules}
        if nsg is None or (cidr and cidr not in opened):
            if cidr and cidr not in opened:
                rules.append({"name": f"lithops-ssh-{len(rules) + 1}", "properties": {
                    "protocol": "Tcp", "direction": "Inbound", "access": "Allow", "priority": 1000 + len(rules),
                    "sourceAddressPrefix": cidr, "sourcePortRange": "*", "destinationAddressPrefix": "*",
                    "destinationPortRange": "22", "description": "lithops attach (azure_vms.ssh_allowed_cidr)"}})
            nsg = _as_dict(_run(f"creating network security group {nsg_name}", "Microsoft.Network",
                                net.network_security_groups.begin_create_or_update, self.group, nsg_name,
                                {"location": self.region, "properties": {"securityRules": rules}}))
        self._net = (str(subnet["id"]), str(nsg["id"]))
        return self._net

    def close(self) -> None:
        """Close the management clients."""
        self.compute.close()
        self.network.close()
