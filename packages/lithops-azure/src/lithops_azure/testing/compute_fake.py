"""Microsoft.Compute virtual machines and the Microsoft.Network pieces they need, on the local Resource Manager
(:class:`lithops_azure.testing.arm_fake.FakeArm`), for the ``azure_vms`` tests.

Each VM that finishes provisioning is played by a network-namespace host (:class:`lithops_vm.testing.cloud_vms.
CloudVMs`): Azure's instance metadata service answers its name and vmId there (only with the ``Metadata: true``
header, 400 without, as IMDS does), and its ``customData`` (base64) runs as root as cloud-init runs it. Starting a
VM boots the host again (what the kernel bootstrap's per-boot script does on a real VM); deallocating, powering off
or deleting it ends the host's processes.

Like ARM, and with ARM's codes and messages, it refuses: a VM without ``osProfile.adminUsername``, without a login
(SSH key or password) for Linux, without a NIC, without an image; an unknown VM size or image; a size the region
lacks (``SkuNotAvailable``); cores over the quota (``OperationNotAllowed``, when creating or starting a
deallocated VM); a provider not registered
(``MissingSubscriptionRegistration``, from the base); a NIC whose subnet, security group or public IP does not
exist; a NIC still attached to a VM; a Standard public IP that is not Static; starting a VM while it deallocates or
stops. VM creations, starts, deallocations, power-offs and deletions are long-running operations that finish after
their delay (whether or not anyone polls, as in Azure), answered with ``Azure-AsyncOperation`` documents; a VM that
finds no free host fails its creation with ``AllocationFailed``, as does starting a deallocated VM of a size in
:attr:`FakeCompute.no_capacity`. Deleting a VM deletes the NIC and public IP
addresses given ``deleteOption: Delete``.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from collections.abc import Callable
from typing import Any

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse
from lithops_azure.testing.arm_fake import _RG, FakeArm
from lithops_vm.testing.cloud_vms import CloudVMs, MetadataRoute
from lithops_vm.testing.netns import HostNetwork

#: VM sizes the fake knows, with their vCPUs.
SIZES = {"Standard_B1s": 1, "Standard_B2s": 2, "Standard_B4ms": 4, "Standard_D2s_v5": 2, "Standard_D4s_v5": 4,
         "Standard_F2s_v2": 2}
#: Platform images (publisher, offer, sku), lower case as ARM compares them.
PLATFORM_IMAGES = {("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"),
                   ("canonical", "ubuntu-24_04-lts", "server"), ("debian", "debian-12", "12-gen2"),
                   ("debian", "debian-13", "13-gen2")}
#: Longest base64 customData ARM accepts.
CUSTOM_DATA_MAX = 87380
_VM = _RG + r"/providers/Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)"
_NET = _RG + r"/providers/Microsoft\.Network/"
_ALLOCATION_FAILED = {"code": "AllocationFailed", "message": "Allocation failed. We do not have sufficient capacity "
                      "for the requested VM size in this region. Read more about improving likelihood of allocation "
                      "success at http://aka.ms/allocation-guidance"}
_POWER = {"creating": "starting", "starting": "starting", "running": "running", "deallocating": "deallocating",
          "deallocated": "deallocated", "stopping": "stopping", "stopped": "stopped", "deleting": "stopping"}


def imds_routes(name: str, vm_id: str) -> list[MetadataRoute]:
    """Azure IMDS's answers for one VM: its name and vmId, with the header IMDS requires (400 without)."""
    need = {"Metadata": "true"}
    return [MetadataRoute("/metadata/instance/compute/name", name, headers=need, refusal=400),
            MetadataRoute("/metadata/instance/compute/vmId", vm_id, headers=need, refusal=400)]


class FakeCompute(FakeArm):
    """Resource Manager with VMs played by the hosts of ``network`` (``hosts`` of them: default all).

    Args:
        network: the namespace hosts.
        resource_group: a resource group made at once.
        create_delay, start_delay, stop_delay, delete_delay: seconds each operation takes.
        env: environment of the VMs' customData (standing for what a VM's image has).
    """

    def __init__(self, network: HostNetwork, resource_group: str = "lithops-rg", *, create_delay: float = 1.0,
                 start_delay: float = 0.5, stop_delay: float = 3.0, delete_delay: float = 1.0,
                 env: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resource_groups.add(resource_group)
        self.providers |= {"Microsoft.Compute", "Microsoft.Network"}
        self.delays = {"create": create_delay, "start": start_delay, "stop": stop_delay, "delete": delete_delay}
        #: the regional cores quota (None: no limit), sizes the region lacks, custom image ids (lower case)
        self.quota_cores: int | None = None
        self.unavailable_sizes: set[str] = set()
        #: sizes the region has no capacity for just now: starting a deallocated VM of one fails (AllocationFailed)
        self.no_capacity: set[str] = set()
        self.images: set[str] = set()
        #: VM (lower-case id) -> its power state; operations' failures
        self.power: dict[str, str] = {}
        #: the errors the fake answered (``Code: message``)
        self.vms = CloudVMs(network, self._metadata, env=env)
        self._vm_ids: dict[str, str] = {}
        self.route("PUT", _VM, self.put_vm)
        self.route("GET", _VM, self.get_vm)
        self.route("DELETE", _VM, self.delete_vm)
        self.route("GET", _VM + "/instanceView", self.instance_view)
        for action in ("start", "deallocate", "powerOff"):
            self.route("POST", _VM + "/" + action, self.vm_action)
        self.route("GET", _RG + r"/providers/Microsoft\.Compute/virtualMachines", self.list_vms)
        for kind, check in (("virtualNetworks", self._vnet), ("virtualNetworks/[^/]+/subnets", self._subnet),
                            ("networkSecurityGroups", self._nsg), ("publicIPAddresses", self._public_ip),
                            ("networkInterfaces", self._nic)):
            path = _NET + kind + r"/(?P<name>[^/]+)"
            self.route("PUT", path, self._network_put(kind, check))
            self.route("GET", path, self.get_network)
            self.route("DELETE", path, self.delete_network)

    # -- plumbing -------------------------------------------------------------------------------------------
    def _metadata(self, name: str) -> list[MetadataRoute]:
        return imds_routes(name, self._vm_ids.get(name, ""))

    def _timed(self, request: FakeRequest, namespace: str, status: int, resource: dict[str, Any],
               delay: float, done: Callable[[], dict[str, str] | None]) -> FakeResponse:
        """A long-running operation that ends after ``delay`` seconds, polled or not; ``done`` may return an error
        (ARM's ``{code, message}``), which fails it.
        """
        answer = self._lro(request, namespace, status, resource, lambda: None)
        headers = answer[2]  # type: ignore[misc]
        op = headers["Azure-AsyncOperation"].split("/operationStatuses/", 1)[1].split("?", 1)[0]
        self.operations[op]["left"] = 1 << 30  # only the timer ends it

        def finish() -> None:
            with self.lock:
                error = done()
                state = self.operations[op]
                state["done"] = None
                if error:
                    state["error"] = error

        timer = threading.Timer(delay, finish)
        timer.daemon = True
        timer.start()
        return answer

    def operation_status(self, request: FakeRequest) -> FakeResponse:
        """The base's document, or ``Failed`` with the operation's error."""
        with self.lock:
            state = self.operations.get(request.params["op"])
            if state is not None and state.get("error"):
                return 200, {"id": request.path, "name": request.params["op"], "status": "Failed",
                             "error": state["error"]}
            return super().operation_status(request)

    def _body(self, request: FakeRequest) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict) or not body.get("location"):
            raise ApiError(400, "LocationRequired", "The location property is required for this definition.")
        return body

    def _exists(self, rid: Any, by: str) -> None:
        """Refuse a reference (by resource ``by``) to a resource that does not exist, as ARM does."""
        if str(rid or "").lower() not in self.resources:
            raise ApiError(400, "InvalidResourceReference",
                           f"Resource {rid} referenced by resource {by} was not found. Please make sure that the "
                           f"referenced resource exists, and that both resources are in the same region.")

    # -- virtual machines -----------------------------------------------------------------------------------
    def put_vm(self, request: FakeRequest) -> FakeResponse:
        """Create a VM, refusing what Microsoft.Compute refuses."""
        self._group(request, "Microsoft.Compute")
        body = self._body(request)
        key = request.path.lower()
        if key in self.resources:
            raise ApiError(409, "OperationNotAllowed", "Updating an existing VM is not supported by this fake.")
        props = body.get("properties") or {}
        size = (props.get("hardwareProfile") or {}).get("vmSize")
        if size not in SIZES:
            raise ApiError(400, "InvalidParameter", f"The value {size} provided for the VM size is not valid. The "
                                                    f"valid sizes in the current region are: {', '.join(SIZES)}.")
        if size in self.unavailable_sizes:
            raise ApiError(409, "SkuNotAvailable",
                           f"The requested VM size for resource 'Following SKUs have failed for Capacity "
                           f"Restrictions: {size}' is currently not available in location '{body['location']}'. "
                           f"Please try another size or deploy to a different location or different zone.")
        os_profile = props.get("osProfile") or {}
        if not os_profile.get("adminUsername"):
            raise ApiError(400, "InvalidParameter", "Required parameter 'adminUsername' is missing (null).")
        linux = os_profile.get("linuxConfiguration") or {}
        keys = (linux.get("ssh") or {}).get("publicKeys") or []
        if not os_profile.get("adminPassword") and not keys:
            raise ApiError(400, "InvalidParameter", "Authentication using either SSH or by user name and password "
                                                    "must be enabled in Linux profile.")
        if linux.get("disablePasswordAuthentication") and not keys:
            raise ApiError(400, "InvalidParameter", "Required parameter 'publicKeys' is missing (null) while "
                                                    "password authentication is disabled.")
        custom = os_profile.get("customData")
        if custom is not None:
            try:
                script = base64.b64decode(custom, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise ApiError(400, "InvalidParameter", "The value of parameter customData is invalid: it must "
                                                        "be base64.") from None
            if len(custom) > CUSTOM_DATA_MAX:
                raise ApiError(400, "InvalidParameter", f"Custom data in OSProfile must be in Base64 encoding and "
                                                        f"with a maximum length of {CUSTOM_DATA_MAX} characters.")
        else:
            script = ""
        self._check_image((props.get("storageProfile") or {}).get("imageReference"))
        nics = (props.get("networkProfile") or {}).get("networkInterfaces") or []
        if not nics:
            raise ApiError(400, "InvalidParameter", "Required parameter 'networkProfile' is missing (null): a VM "
                                                    "needs at least one network interface.")
        for nic in nics:
            self._exists(nic.get("id"), request.path)
        spot = props.get("priority") == "Spot"
        if spot and not props.get("evictionPolicy"):
            raise ApiError(400, "InvalidParameter", "Required parameter 'evictionPolicy' is missing (null) for a "
                                                    "Spot priority VM.")
        with self.lock:
            self._quota(size, spot, body["location"])
            name = request.params["name"]
            vm_id = str(uuid.uuid4())
            self._vm_ids[name] = vm_id
            body = dict(body, properties=dict(props, vmId=vm_id))
            body["properties"]["osProfile"] = {k: v for k, v in os_profile.items()
                                               if k not in ("customData", "adminPassword")}  # never returned
            resource = self._store(request, "Microsoft.Compute/virtualMachines", body, "Creating")
            self.resources[key] = resource
            self.power[key] = "creating"

        def done() -> dict[str, str] | None:
            if key not in self.resources:
                return None
            if self.vms.assign(name, script) is None:
                resource["properties"]["provisioningState"] = "Failed"
                self.power[key] = "deallocated"
                return _ALLOCATION_FAILED
            resource["properties"]["provisioningState"] = "Succeeded"
            self.power[key] = "running"
            return None

        return self._timed(request, "Microsoft.Compute", 201, resource, self.delays["create"], done)

    def _check_image(self, image: Any) -> None:
        if not image:
            raise ApiError(400, "InvalidParameter", "Required parameter 'imageReference' is missing (null): the "
                                                    "storage profile needs an image.")
        if image.get("id"):
            if str(image["id"]).lower() not in self.images:
                raise ApiError(404, "NotFound", f"The Image '{image['id']}' cannot be found in the region.")
            return
        urn = (str(image.get("publisher", "")).lower(), str(image.get("offer", "")).lower(),
               str(image.get("sku", "")).lower())
        if urn not in PLATFORM_IMAGES:
            raise ApiError(404, "PlatformImageNotFound",
                           f"The platform image '{image.get('publisher')}:{image.get('offer')}:{image.get('sku')}:"
                           f"{image.get('version')}' is not available. Verify that all fields in the storage profile "
                           f"are correct. For more details about storage profile information, please refer to "
                           f"https://aka.ms/storageprofile")

    def _quota(self, size: str, spot: bool, location: str) -> None:
        if self.quota_cores is None:
            return
        used = sum(SIZES.get(str(r["properties"].get("hardwareProfile", {}).get("vmSize")), 0)
                   for k, r in self.resources.items() if self.power.get(k) not in (None, "deallocated"))
        if used + SIZES[size] > self.quota_cores:
            kind = "LowPriorityCores" if spot else "Total Regional Cores"
            raise ApiError(409, "OperationNotAllowed",
                           f"Operation could not be completed as it results in exceeding approved {kind} quota. "
                           f"Additional details - Deployment Model: Resource Manager, Location: {location}, Current "
                           f"Limit: {self.quota_cores}, Current Usage: {used}, Additional Required: {SIZES[size]}, "
                           f"(Minimum) New Limit Required: {used + SIZES[size]}. Submit a request for Quota increase "
                           f"at https://aka.ms/ProdportalCRP")

    def _vm(self, request: FakeRequest) -> dict[str, Any]:
        self._group(request, "Microsoft.Compute")
        resource = self.resources.get(_vm_key(request.path))
        if resource is None:
            raise ApiError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachines/"
                                                    f"{request.params['name']}' under resource group "
                                                    f"'{request.params['rg']}' was not found.")
        return resource

    def _instance_view(self, key: str) -> dict[str, Any]:
        resource = self.resources[key]
        return {"statuses": [
            {"code": f"ProvisioningState/{resource['properties']['provisioningState'].lower()}"},
            {"code": f"PowerState/{_POWER[self.power.get(key, 'running')]}"}]}

    def get_vm(self, request: FakeRequest) -> FakeResponse:
        """A VM (``$expand=instanceView`` adds its power state)."""
        with self.lock:
            resource = dict(self._vm(request))
            if "instanceView" in (request.query.get("$expand") or [""])[0]:
                resource["properties"] = dict(resource["properties"],
                                              instanceView=self._instance_view(request.path.lower()))
            return 200, resource

    def instance_view(self, request: FakeRequest) -> FakeResponse:
        """A VM's run-time state."""
        with self.lock:
            self._vm(request)
            return 200, self._instance_view(_vm_key(request.path))

    def list_vms(self, request: FakeRequest) -> FakeResponse:
        """The VMs of a resource group (no instance view, as ARM lists them without a filter)."""
        self._group(request, "Microsoft.Compute")
        prefix = request.path.lower() + "/"
        with self.lock:
            return 200, {"value": [r for k, r in self.resources.items()
                                   if k.startswith(prefix) and "/" not in k[len(prefix):]]}

    def vm_action(self, request: FakeRequest) -> FakeResponse:
        """start, deallocate, powerOff: long-running; start is refused while the VM deallocates or stops."""
        action = request.path.rsplit("/", 1)[1]
        with self.lock:
            resource = self._vm(request)
            key = _vm_key(request.path)
            name = request.params["name"]
            state = self.power.get(key)
            if state in ("creating", "deleting"):
                raise ApiError(409, "OperationNotAllowed", f"Operation '{action}' is not allowed on VM '{name}' "
                                                           f"since the VM is {state}.")
            if action == "start":
                if state in ("deallocating", "stopping"):
                    raise ApiError(409, "OperationNotAllowed",
                                   f"Operation 'start' is not allowed on VM '{name}' since the VM is marked for "
                                   f"{'deallocation' if state == 'deallocating' else 'stopping'}. You can only "
                                   f"retry the operation after it completes.")
                if state == "running":
                    return self._timed(request, "Microsoft.Compute", 202, resource, 0, lambda: None)
                if state == "deallocated":  # its cores count again
                    self._quota(resource["properties"]["hardwareProfile"]["vmSize"],
                                resource["properties"].get("priority") == "Spot", resource["location"])
                self.power[key] = "starting"
                end, delay = "running", self.delays["start"]
            else:
                if state in ("deallocated", "stopped") and action == "powerOff":
                    return self._timed(request, "Microsoft.Compute", 202, resource, 0, lambda: None)
                self.power[key] = "deallocating" if action == "deallocate" else "stopping"
                self.vms.stop(name)
                end, delay = "deallocated" if action == "deallocate" else "stopped", self.delays["stop"]

        def done() -> dict[str, str] | None:
            if self.power.get(key) not in ("starting", "deallocating", "stopping"):
                return None
            if end == "running" and state == "deallocated" and \
                    resource["properties"]["hardwareProfile"]["vmSize"] in self.no_capacity:
                self.power[key] = "deallocated"
                return _ALLOCATION_FAILED
            self.power[key] = end
            if end == "running":
                self.vms.boot_later(name)
            return None

        return self._timed(request, "Microsoft.Compute", 202, resource, delay, done)

    def delete_vm(self, request: FakeRequest) -> FakeResponse:
        """Delete a VM, and the NICs and public IPs it was given with ``deleteOption: Delete``."""
        with self.lock:
            self._group(request, "Microsoft.Compute")
            key = _vm_key(request.path)
            resource = self.resources.get(key)
            if resource is None:
                return 204, b""
            self.power[key] = "deleting"
            resource["properties"]["provisioningState"] = "Deleting"
            self.vms.stop(request.params["name"])

        def done() -> None:
            self.resources.pop(key, None)
            self.power.pop(key, None)
            self.vms.delete(request.params["name"])
            for nic in (resource["properties"].get("networkProfile") or {}).get("networkInterfaces") or []:
                if (nic.get("properties") or {}).get("deleteOption") == "Delete":
                    found = self.resources.pop(str(nic.get("id")).lower(), None)
                    for config in (found or {}).get("properties", {}).get("ipConfigurations") or []:
                        address = (config.get("properties") or {}).get("publicIPAddress") or {}
                        if (address.get("properties") or {}).get("deleteOption") == "Delete":
                            self.resources.pop(str(address.get("id")).lower(), None)

        return self._timed(request, "Microsoft.Compute", 202, resource, self.delays["delete"], done)

    # -- network --------------------------------------------------------------------------------------------
    def _network_put(self, kind: str, check: Callable[[dict[str, Any], str], None]
                     ) -> Callable[[FakeRequest], FakeResponse]:
        def put(request: FakeRequest) -> FakeResponse:
            self._group(request, "Microsoft.Network")
            body = request.json() or {}
            if kind != "virtualNetworks/[^/]+/subnets":
                body = self._body(request)
            else:
                self._exists(request.path.rsplit("/subnets/", 1)[0], request.path)
            with self.lock:
                check(body, request.path)
                return self._put(request, "Microsoft.Network", "Microsoft.Network/" + kind.split("/")[-1], body)

        return put

    @staticmethod
    def _vnet(body: dict[str, Any], path: str) -> None:
        if not ((body.get("properties") or {}).get("addressSpace") or {}).get("addressPrefixes"):
            raise ApiError(400, "InvalidRequestFormat", "Cannot parse the request: addressSpace.addressPrefixes "
                                                        "is required.")

    @staticmethod
    def _subnet(body: dict[str, Any], path: str) -> None:
        props = body.get("properties") or {}
        if not props.get("addressPrefix") and not props.get("addressPrefixes"):
            raise ApiError(400, "InvalidRequestFormat", "Cannot parse the request: a subnet needs addressPrefix.")

    @staticmethod
    def _nsg(body: dict[str, Any], path: str) -> None:
        for rule in (body.get("properties") or {}).get("securityRules") or []:
            props = rule.get("properties") or {}
            if not isinstance(props.get("priority"), int) or not 100 <= props["priority"] <= 4096:
                raise ApiError(400, "SecurityRuleInvalidPriority", f"Security rule {rule.get('name')} has invalid "
                                                                   f"Priority. Value provided: "
                                                                   f"{props.get('priority')} Allowed range 100-4096.")

    @staticmethod
    def _public_ip(body: dict[str, Any], path: str) -> None:
        sku = (body.get("sku") or {}).get("name", "Basic")
        method = (body.get("properties") or {}).get("publicIPAllocationMethod", "Dynamic")
        if sku == "Standard" and method != "Static":
            raise ApiError(400, "StandardSkuPublicIPAddressesMustBeStatic",
                           "Standard sku publicIp must have AllocationMethod set to Static.")

    def _nic(self, body: dict[str, Any], path: str) -> None:
        props = body.get("properties") or {}
        configs = props.get("ipConfigurations") or []
        if not configs:
            raise ApiError(400, "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                           "Network interface must have at least one IP configuration.")
        if props.get("networkSecurityGroup"):
            self._exists(props["networkSecurityGroup"].get("id"), path)
        for config in configs:
            cprops = config.get("properties") or {}
            self._exists((cprops.get("subnet") or {}).get("id"), path)
            if cprops.get("publicIPAddress"):
                self._exists(cprops["publicIPAddress"].get("id"), path)

    def _user(self, rid: str) -> str | None:
        """The VM using a NIC or public IP address (its name), if any."""
        rid = rid.lower()
        for key, vm in self.resources.items():
            if "/virtualmachines/" not in key:
                continue
            for nic in vm["properties"].get("networkProfile", {}).get("networkInterfaces") or []:
                nic_id = str(nic.get("id")).lower()
                if nic_id == rid:
                    return str(vm["name"])
                for config in self.resources.get(nic_id, {}).get("properties", {}).get("ipConfigurations") or []:
                    if str(((config.get("properties") or {}).get("publicIPAddress") or {}).get("id")).lower() == rid:
                        return str(vm["name"])
        return None

    def get_network(self, request: FakeRequest) -> FakeResponse:
        """A network resource; a NIC's private and a public IP's address are the address of the VM's host."""
        self._group(request, "Microsoft.Network")
        with self.lock:
            resource = self.resources.get(request.path.lower())
            if resource is None:
                raise ApiError(404, "ResourceNotFound", f"The Resource '{request.path.split('/providers/')[1]}' "
                                                        f"under resource group '{request.params['rg']}' was not found.")
            resource = dict(resource, properties=dict(resource["properties"]))
            user = self._user(request.path)
            address = self.vms.address(user) if user else None
            if resource["type"].endswith("publicIPAddresses") and address:
                resource["properties"]["ipAddress"] = address
            if resource["type"].endswith("networkInterfaces"):
                resource["properties"]["ipConfigurations"] = [
                    dict(c, properties=dict(c.get("properties") or {}, privateIPAddress=address or "10.0.0.4"))
                    for c in resource["properties"].get("ipConfigurations") or []]
            return 200, resource

    def delete_network(self, request: FakeRequest) -> FakeResponse:
        """Delete a network resource (refused for one a VM uses)."""
        self._group(request, "Microsoft.Network")
        with self.lock:
            user = self._user(request.path)
            if user is not None:
                code = "NicInUse" if "/networkinterfaces/" in request.path.lower() else "InUseByVirtualMachine"
                raise ApiError(400, code, f"{request.path.split('/providers/')[1]} is used by virtual machine "
                                          f"{user}: delete the VM first.")
            if self.resources.pop(request.path.lower(), None) is None:
                return 204, b""
        return 200, b""

    def close(self) -> None:
        """Stop serving; end every process the VMs started."""
        self.stop()
        self.vms.close()


def _vm_key(path: str) -> str:
    parts = path.lower().split("/")
    return "/".join(parts[:9])
