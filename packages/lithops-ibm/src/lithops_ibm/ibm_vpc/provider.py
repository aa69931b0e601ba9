"""The IBM Cloud VPC virtual server life cycle, as a :class:`lithops.standalone.provider.VMProvider`, through the
``ibm-vpc`` SDK with IAM tokens of ``ibm.iam_api_key``.

VMs that Lithops creates (``exec_mode`` ``create`` and ``reuse``) boot with the kernel's bootstrap as user data:
each asks the VPC metadata service for its instance id, downloads the client's code from a pre-signed COS URL and
starts the agent, which works through COS with IAM tokens of the VM's trusted profile (the metadata service hands
them out). No SSH, no inbound port, no floating IP: their way out is the subnet's public gateway. VMs are named
``<cluster>-<exec mode>-<8 hex digits>``, which is how they are found again. In ``consume`` mode the VM is the
user's: the agent is installed on it over SSH, at its floating IP (made for it when it has none, and released by
``lithops clean --all``).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lithops.errors import BackendError, ConfigError
from lithops.standalone.backend import client_python, default_image
from lithops.standalone.provider import VM, MetadataRequest, VMProvider, metadata_command, named_vm
from lithops_ibm.iam import authenticator, call, iam_endpoint
from lithops_ibm.plugin import VPC_DEFAULT_PROFILE

logger = logging.getLogger(__name__)

#: The VPC API version (a date) the requests ask for.
API_VERSION = "2025-04-08"
SECURITY_GROUP = "lithops-sg"
#: The default image for each client Python: the name prefix of IBM's stock image whose ``python3`` is that version.
DEFAULT_IMAGES = {"3.10": "ibm-ubuntu-22-04-", "3.11": "ibm-debian-12-", "3.12": "ibm-ubuntu-24-04-",
                  "3.13": "ibm-debian-13-"}
#: Seconds between two looks at the VMs' states.
POLL_SEC = 1.0
#: The VPC statuses by the standalone layer's words.
_STATES = {"pending": "pending", "starting": "pending", "restarting": "pending", "resuming": "pending",
           "running": "running", "stopping": "stopping", "suspending": "stopping", "stopped": "stopped",
           "suspended": "stopped", "deleting": "terminated", "failed": "failed"}
#: The VM's own instance id, from the VPC instance metadata service, with the runtime's Python.
METADATA_INSTANCE_ID = metadata_command(
    MetadataRequest("http://169.254.169.254/metadata/v1/instance?version=2022-03-01", json_key="id"),
    token=MetadataRequest("http://169.254.169.254/instance_identity/v1/token?version=2022-03-01",
                          {"Metadata-Flavor": "ibm", "Content-Type": "application/json"}, method="PUT", data="{}",
                          json_key="access_token"),
    token_header=("Authorization", "Bearer {}"))


def vm_prefix(cluster: str) -> str:
    """The start of the names of a cluster's VMs (VPC names: lowercase letters, digits and hyphens)."""
    slug = re.sub(r"[^a-z0-9]+", "-", cluster.lower()).strip("-") or "lithops"
    if not slug[0].isalpha():
        slug = "l" + slug
    return slug[:40] + "-"


class VPCVMs(VMProvider):
    """IBM VPC virtual servers named after the cluster (or ``instance_id`` in consume mode)."""

    vm_id_command = METADATA_INSTANCE_ID

    def __init__(self, config: Mapping[str, Any], cluster: str) -> None:
        super().__init__(config, cluster)
        from ibm_vpc import VpcV1

        if not self.config.get("iam_api_key"):
            raise ConfigError("ibm_vpc needs iam_api_key (in the ibm section or ibm_vpc): the VPC API takes IAM "
                              "tokens only.")
        self.region = str(self.config.get("region") or "")
        self.endpoint = str(self.config.get("endpoint") or f"https://{self.region}.iaas.cloud.ibm.com/v1")
        self.vpc = VpcV1(version=API_VERSION,
                         authenticator=authenticator(str(self.config["iam_api_key"]), iam_endpoint(self.config)))
        self.vpc.set_service_url(self.endpoint)
        self.vpc.set_http_config({"timeout": 60})
        self.mode = str(self.config.get("exec_mode") or "reuse")
        #: consume mode: the VM is the user's, so the agent is installed on it over SSH
        self.installs_over_ssh = self.mode == "consume"
        self.prefix = vm_prefix(cluster)
        self._network: dict[str, str] | None = None

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``self.vpc.<method>(...)``'s result, its failures as Lithops errors naming ``what`` and IBM's message."""
        return call(f"IBM VPC {what}", self.endpoint, getattr(self.vpc, method), *args, **kwargs).get_result()

    def _all(self, what: str, method: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a listing, page after page."""
        items: list[dict[str, Any]] = []
        start = None
        while True:
            page = self._call(what, method, start=start, **kwargs)
            items += page.get(key) or []
            href = (page.get("next") or {}).get("href")
            if not href:
                return items
            start = parse_qs(urlsplit(href).query)["start"][0]

    # -- reading ---------------------------------------------------------------------------------------------
    def _vm(self, instance: Mapping[str, Any], address: str | None = None) -> VM:
        nic = instance.get("primary_network_interface") or {}
        name = str(instance["name"])
        extra: dict[str, Any] = {"nic": nic.get("id")}
        rest = name[len(self.prefix):] if name.startswith(self.prefix) else ""
        mode = rest.split("-", 1)[0]
        if mode in ("create", "reuse"):
            extra["lithops_exec_mode"] = mode
        return VM(id=str(instance["id"]), name=name,
                  address=address or (nic.get("primary_ip") or {}).get("address"),
                  state=_STATES.get(str(instance.get("status")), str(instance.get("status"))),
                  image=(instance.get("image") or {}).get("id"), extra=extra)

    def _get(self, vm_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(f"get instance {vm_id}", "get_instance", vm_id)
        return result

    def list_vms(self) -> list[VM]:
        """The instances named after the cluster, whatever their state but deleting."""
        pattern = re.compile(re.escape(self.prefix) + r"(create|reuse)-[0-9a-f]{8}")
        kwargs = {"vpc_id": self.config["vpc_id"]} if self.config.get("vpc_id") else {}
        found = [self._vm(i) for i in self._all("list instances", "list_instances", "instances", **kwargs)
                 if pattern.fullmatch(str(i.get("name")))]
        return [vm for vm in found if vm.state != "terminated"]

    def named(self) -> list[VM]:
        """``instance_id`` (consume mode), at its floating IP."""
        instance_id = named_vm(self.config, "ibm_vpc", "instance_id", "id")
        try:
            instance = self._get(str(instance_id))
        except BackendError as exc:
            if "404" not in str(exc):
                raise
            raise BackendError(f"VM {instance_id} does not exist in region {self.region}: fix "
                               f"ibm_vpc.instance_id.") from None
        vm = self._vm(instance)
        vm.address = self._floating_ip(vm)
        return [vm]

    def _floating_ip(self, vm: VM) -> str:
        """``floating_ip``, else the VM's floating IP, else a new one for it (consume mode: the client logs in)."""
        if self.config.get("floating_ip"):
            return str(self.config["floating_ip"])
        nic = vm.extra["nic"]
        found = self._all("list floating IPs", "list_floating_ips", "floating_ips", target_id=nic)
        if found:
            return str(found[0]["address"])
        logger.info("Giving VM %s a floating IP to reach it over SSH", vm.name)
        made = self._call("create floating IP", "create_floating_ip", self._with_group(
            {"name": f"lithops-{vm.name}"[:63].rstrip("-"), "target": {"id": nic}}))
        return str(made["address"])

    # -- the life cycle --------------------------------------------------------------------------------------
    def create(self, count: int, *, spot: bool = False, user_data: str | None = None,
               tags: Mapping[str, str] | None = None) -> list[VM]:
        """Create ``count`` instances of ``worker_profile_name`` in the VPC's subnet, booting with ``user_data``."""
        network = self.network()
        mode = (tags or {}).get("lithops_exec_mode") or self.mode
        prototype: dict[str, Any] = {
            "profile": {"name": self.config.get("worker_profile_name") or VPC_DEFAULT_PROFILE},
            "vpc": {"id": network["vpc"]}, "zone": {"name": network["zone"]}, "image": {"id": self._image()},
            "primary_network_interface": {"name": "eth0", "subnet": {"id": network["subnet"]},
                                          "security_groups": [{"id": network["security_group"]}]},
            "metadata_service": {"enabled": True},
        }
        if user_data:
            prototype["user_data"] = user_data
        if self.config.get("ssh_key_id"):
            prototype["keys"] = [{"id": self.config["ssh_key_id"]}]
        if self.config.get("trusted_profile_id"):
            prototype["default_trusted_profile"] = {"target": {"id": self.config["trusted_profile_id"]},
                                                    "auto_link": True}
        logger.info("Creating %d %s VM(s) for cluster %s", count, prototype["profile"]["name"], self.cluster)
        made: list[VM] = []
        for _ in range(count):
            body = self._with_group({**prototype, "name": f"{self.prefix}{mode}-{uuid.uuid4().hex[:8]}"})
            try:
                made.append(self._vm(self._call("create instance", "create_instance", body)))
            except BackendError as exc:
                if not made:
                    raise
                logger.warning("Made %d of %d VMs: %s", len(made), count, exc)
                break
        return made

    def start(self, vms: list[VM]) -> None:
        """Start these VMs; VMs still stopping are started once stopped (the VPC API refuses to start them before)."""
        if not vms:
            return
        states = self.settled_states(lambda: {vm.name: self._vm(self._get(vm.id)).state for vm in vms},
                                     poll_sec=POLL_SEC)
        for vm in vms:
            if states[vm.name] == "stopped":
                logger.info("Starting stopped VM %s", vm.name)
                self._call(f"start instance {vm.name}", "create_instance_action", vm.id, "start")

    def stop(self, vms: list[VM]) -> None:
        """Stop these VMs (their disks are kept)."""
        for vm in vms:
            if self._vm(self._get(vm.id)).state in ("running", "pending"):
                self._call(f"stop instance {vm.name}", "create_instance_action", vm.id, "stop")

    def release(self, vms: list[VM]) -> None:
        """Consume mode: the VMs are the user's; only the floating IPs Lithops made for them go."""
        for vm in vms:
            for fip in self._all("list floating IPs", "list_floating_ips", "floating_ips",
                                 target_id=vm.extra.get("nic")):
                if fip["name"] == f"lithops-{vm.name}"[:63].rstrip("-"):
                    self._call("delete floating IP", "delete_floating_ip", fip["id"])

    def delete(self, vms: list[VM]) -> None:
        """Delete these VMs."""
        for vm in vms:
            try:
                self._call(f"delete instance {vm.name}", "delete_instance", vm.id)
            except BackendError as exc:
                if "404" not in str(exc):
                    raise

    def wait_ready(self, vm: VM, timeout: float) -> VM:
        """Wait until ``vm`` runs (consume mode: at its floating IP)."""
        def look() -> VM:
            found = self._vm(self._get(vm.id), vm.address if self.installs_over_ssh else None)
            if found.state in ("failed", "terminated"):
                raise BackendError(f"VM {vm.name} is {found.state}: delete it (lithops clean --all) and run the job "
                                   f"again for a new VM.")
            return found

        return self.poll_ready(vm.name, timeout, look, poll_sec=POLL_SEC)

    # -- what VMs are made with ------------------------------------------------------------------------------
    def _with_group(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.config.get("resource_group_id"):
            body["resource_group"] = {"id": self.config["resource_group_id"]}
        return body

    def _image(self) -> str:
        if self.config.get("image_id"):
            return str(self.config["image_id"])
        wanted = client_python()
        prefix = default_image(DEFAULT_IMAGES, "IBM", "ibm_vpc.image_id")
        images = [i for i in self._all("list images", "list_images", "images", visibility="public",
                                       status=["available"])
                  if str(i.get("name")).startswith(prefix)
                  and (i.get("operating_system") or {}).get("architecture") == "amd64"]
        if not images:
            raise BackendError(f"no public image {prefix}* (Python {wanted}) found in {self.region}: set "
                               f"ibm_vpc.image_id to an amd64 image with Python {wanted}.")
        return str(max(images, key=lambda i: str(i.get("created_at", "")))["id"])

    def network(self) -> dict[str, str]:
        """The VPC, zone, subnet (with a public gateway) and security group of new VMs: the configured ones,
        else found by name, else created.
        """
        if self._network is not None:
            return self._network
        subnet: dict[str, Any] | None = None
        if self.config.get("subnet_id"):
            subnet = self._call("get subnet", "get_subnet", self.config["subnet_id"])
            vpc_id = str(subnet["vpc"]["id"])
            zone = str(subnet["zone"]["name"])
        else:
            vpc_id = self._vpc()
            zone = str(self.config.get("zone") or f"{self.region}-1")
            found = self._all("list subnets", "list_subnets", "subnets", vpc_id=vpc_id, zone_name=zone)
            if found:
                subnet = found[0]
            else:
                logger.info("Creating subnet lithops-subnet-%s in VPC %s", zone, vpc_id)
                subnet = self._call("create subnet", "create_subnet", self._with_group(
                    {"name": f"lithops-subnet-{zone}", "vpc": {"id": vpc_id}, "zone": {"name": zone},
                     "total_ipv4_address_count": 256}))
        if not subnet.get("public_gateway"):
            self._call("attach public gateway", "set_subnet_public_gateway", subnet["id"],
                       {"id": self._gateway(vpc_id, zone)})
        self._network = {"vpc": vpc_id, "zone": zone, "subnet": str(subnet["id"]),
                         "security_group": self._security_group(vpc_id)}
        return self._network

    def _vpc(self) -> str:
        if self.config.get("vpc_id"):
            return str(self._call("get VPC", "get_vpc", self.config["vpc_id"])["id"])
        name = str(self.config.get("vpc_name") or "lithops-vpc")
        kwargs = {"resource_group_id": self.config["resource_group_id"]} if self.config.get("resource_group_id") \
            else {}
        for vpc in self._all("list VPCs", "list_vpcs", "vpcs", **kwargs):
            if vpc["name"] == name:
                return str(vpc["id"])
        logger.info("Creating VPC %s", name)
        group = {"id": self.config["resource_group_id"]} if self.config.get("resource_group_id") else None
        return str(self._call("create VPC", "create_vpc", name=name, resource_group=group)["id"])

    def _gateway(self, vpc_id: str, zone: str) -> str:
        if self.config.get("gateway_id"):
            return str(self.config["gateway_id"])
        for gateway in self._all("list public gateways", "list_public_gateways", "public_gateways"):
            if gateway["vpc"]["id"] == vpc_id and gateway["zone"]["name"] == zone:
                return str(gateway["id"])
        logger.info("Creating public gateway lithops-gateway-%s", zone)
        group = {"id": self.config["resource_group_id"]} if self.config.get("resource_group_id") else None
        return str(self._call("create public gateway", "create_public_gateway", {"id": vpc_id}, {"name": zone},
                              name=f"lithops-gateway-{zone}", resource_group=group)["id"])

    def _security_group(self, vpc_id: str) -> str:
        """``security_group_id``, or ``lithops-sg`` in the VPC: all traffic out, SSH in (the VMs Lithops creates
        have no floating IP: only machines of the VPC reach them).
        """
        if self.config.get("security_group_id"):
            return str(self.config["security_group_id"])
        for group in self._all("list security groups", "list_security_groups", "security_groups", vpc_id=vpc_id):
            if group["name"] == SECURITY_GROUP:
                return str(group["id"])
        logger.info("Creating security group %s in VPC %s", SECURITY_GROUP, vpc_id)
        rules = [{"direction": "outbound", "protocol": "all", "ip_version": "ipv4",
                  "remote": {"cidr_block": "0.0.0.0/0"}},
                 {"direction": "inbound", "protocol": "tcp", "port_min": 22, "port_max": 22, "ip_version": "ipv4",
                  "remote": {"cidr_block": "0.0.0.0/0"}}]
        resource_group = {"id": self.config["resource_group_id"]} if self.config.get("resource_group_id") else None
        return str(self._call("create security group", "create_security_group", {"id": vpc_id},
                              name=SECURITY_GROUP, resource_group=resource_group, rules=rules)["id"])
