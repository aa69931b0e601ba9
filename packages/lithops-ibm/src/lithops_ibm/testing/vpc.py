"""A local IBM Cloud VPC API (``/v1``) at the HTTP level, strict where the real one is, whose instances are
network-namespace hosts (:class:`lithops_vm.testing.cloud_vms.CloudVMs`).

VPCs, subnets, public gateways, security groups, floating IPs and instances are kept in memory. Every request
needs the ``version`` (a date) and ``generation=2`` query parameters and a bearer token that the local IAM
(:class:`lithops_ibm.testing.iam.FakeIAM`) issued and that has not expired. Errors are IBM's JSON
(``{"errors": [{"code", "message", "more_info"}], "trace"}``). Like the VPC API, it refuses a missing required
field, an unknown zone, profile, image, SSH key, trusted profile or resource group, a request beyond the account's
vCPU quota, a ``start`` of an instance that is not ``stopped`` and a ``stop`` of one that is not running.

An instance is ``pending``, then ``starting``, then ``running`` (``transition`` seconds each); a ``stop`` makes it
``stopping`` for ``stop_delay`` seconds, then ``stopped``; a ``start`` makes it ``starting``, then ``running``,
and boots its host again (as a VM's cloud-init per-boot scripts run at each boot). A running instance whose guest
powers itself off (the ``shutdown`` command, as an idle agent does) is ``stopped``. Its host runs IBM's metadata
service, when the instance was created with ``metadata_service.enabled``: ``PUT /instance_identity/v1/token``
(header ``Metadata-Flavor: ibm``) answers an instance identity token, ``GET /metadata/v1/instance`` with it the
instance, and ``POST /instance_identity/v1/iam_token`` an IAM token of the instance's default trusted profile.
Its ``user_data`` runs as root at its first boot. Both its private and its floating address are its host's.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, FakeService
from lithops_ibm.testing.iam import FakeIAM

#: vCPUs of the instance profiles the fake knows.
PROFILES = {"bx2-2x8": 2, "cx2-2x4": 2, "cx2-4x8": 4, "mx2-2x16": 2, "bx2-8x32": 8}
#: Public images of the fake: (id, name, operating system).
IMAGES = (
    ("r006-ubuntu-22-04", "ibm-ubuntu-22-04-5-minimal-amd64-1", "ubuntu-22-04-amd64"),
    ("r006-debian-12", "ibm-debian-12-6-minimal-amd64-1", "debian-12-amd64"),
    ("r006-ubuntu-24-04", "ibm-ubuntu-24-04-minimal-amd64-1", "ubuntu-24-04-amd64"),
)
_NAME = re.compile(r"[a-z]|[a-z][-a-z0-9]*[a-z0-9]")
#: The instance identity token each VM's metadata service hands out.
IDENTITY_TOKEN = "vpc-instance-identity-token"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _query(request: FakeRequest, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def _ref(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": resource["id"], "name": resource["name"], "href": resource["href"]}


class FakeVPC(FakeService):
    """The VPC API of one region behind the local IAM ``iam``; ``network``'s hosts (or ``hosts`` of them) play
    the instances.

    Args:
        iam: the token service whose tokens are accepted (and which issues the trusted profiles' tokens).
        network: a :class:`lithops_vm.testing.netns.HostNetwork`.
        hosts: the hosts that may play instances (default: all of ``network``'s).
        region: the region served; its zones are ``<region>-1`` to ``-3``.
        resource_groups: ids of the account's resource groups (the first is the default group).
        vcpu_quota: vCPUs the account may have in instances in the region.
        page_size: items of a listing's page (IBM's default is 50; small here so that clients must follow
            ``next``).
        transition: seconds an instance is ``pending`` and ``starting``.
        stop_delay: seconds an instance is ``stopping``.
        boot_delay: seconds a host takes to boot before the user data runs.
    """

    def __init__(self, iam: FakeIAM, network: Any, hosts: list[Any] | None = None, region: str = "us-south",
                 resource_groups: Iterable[str] = ("default-rg-0001", "other-rg-0002"), vcpu_quota: int = 64,
                 page_size: int = 2, transition: float = 0.5, stop_delay: float = 2.0, boot_delay: float = 0.0) -> None:
        from lithops_vm.testing.cloud_vms import CloudVMs

        super().__init__()
        self.iam, self.region = iam, region
        self.zones = [f"{region}-{i}" for i in (1, 2, 3)]
        self.resource_groups = list(resource_groups)
        self.vcpu_quota, self.transition, self.stop_delay = vcpu_quota, transition, stop_delay
        self.page_size = page_size
        self.keys: dict[str, dict[str, Any]] = {}
        self.trusted_profiles: set[str] = set()
        #: trusted profiles without access to COS: the metadata service hands out tokens that COS refuses
        self.profiles_without_cos: set[str] = set()
        self.vpcs: dict[str, dict[str, Any]] = {}
        self.subnets: dict[str, dict[str, Any]] = {}
        self.gateways: dict[str, dict[str, Any]] = {}
        self.security_groups: dict[str, dict[str, Any]] = {}
        self.floating_ips: dict[str, dict[str, Any]] = {}
        self.instances: dict[str, dict[str, Any]] = {}
        self.images = {i: {"id": i, "name": n, "href": f"/v1/images/{i}", "status": "available",
                           "visibility": "public", "operating_system": {"name": o, "architecture": "amd64"},
                           "created_at": _now()} for i, n, o in IMAGES}
        #: the errors answered (``code: message``)
        #: the body of each instance created
        self.created: list[dict[str, Any]] = []
        self.vms = CloudVMs(network, self._metadata, hosts=hosts, boot_delay=boot_delay)
        self.hosts, self.user_data, self.boots, self.log = self.vms.hosts, self.vms.user_data, self.vms.boots, \
            self.vms.log
        self._timers: list[threading.Timer] = []
        for collection, name in (("vpcs", "vpc"), ("subnets", "subnet"), ("public_gateways", "gateway"),
                                 ("security_groups", "security_group"), ("floating_ips", "floating_ip"),
                                 ("instances", "instance"), ("images", "image")):
            self.route("GET", rf"/v1/{collection}", getattr(self, f"list_{collection}"))
            self.route("GET", rf"/v1/{collection}/(?P<id>[^/]+)", getattr(self, f"get_{name}"))
            if collection != "images":
                self.route("POST", rf"/v1/{collection}", getattr(self, f"create_{name}"))
        for collection in ("floating_ips", "instances"):
            self.route("DELETE", rf"/v1/{collection}/(?P<id>[^/]+)", getattr(self, f"delete_{collection[:-1]}"))
        self.route("PUT", r"/v1/subnets/(?P<id>[^/]+)/public_gateway", self.set_subnet_public_gateway)
        self.route("POST", r"/v1/security_groups/(?P<id>[^/]+)/rules", self.create_security_group_rule)
        self.route("POST", r"/v1/instances/(?P<id>[^/]+)/actions", self.create_instance_action)

    # -- protocol --------------------------------------------------------------------------------------------
    def start(self) -> FakeVPC:
        """Serve on 127.0.0.1 (the client's side; the instances never call the API)."""
        super().start()
        return self

    def stop(self) -> None:
        """Stop serving; end every process the instances started."""
        super().stop()
        for timer in self._timers:
            timer.cancel()
        self.vms.close()

    def error_body(self, status: int, code: str, message: str) -> Any:
        """IBM Cloud's error JSON."""
        return {"errors": [{"code": code, "message": message,
                            "more_info": f"https://cloud.ibm.com/docs/vpc?topic=vpc-rias-error-messages#{code}"}],
                "trace": uuid.uuid4().hex}

    def authorize(self, request: FakeRequest) -> None:
        """Refuse requests without a valid IAM token, the ``version`` date or ``generation=2``."""
        reason = self.iam.check(request.header("authorization"))
        if reason is not None:
            raise ApiError(401, "not_authorized", f"The request is not authorized: {reason}.")
        version = (request.query.get("version") or [""])[0]
        if not version:
            raise ApiError(400, "missing_version", "The version query parameter is required.")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version):
            raise ApiError(400, "bad_version", f"The version query parameter '{version}' is not a date YYYY-MM-DD.")
        if (request.query.get("generation") or [""])[0] != "2":
            raise ApiError(400, "bad_generation", "The generation query parameter must be 2.")

    # -- helpers ---------------------------------------------------------------------------------------------
    def _new(self, collection: str, prefix: str, body: Mapping[str, Any], kind: str) -> dict[str, Any]:
        name = body.get("name")
        resource_id = f"{prefix}-{uuid.uuid4()}"
        if name is None:
            name = f"{kind.replace('_', '-')}-{resource_id[-12:]}"
        if not isinstance(name, str) or len(name) > 63 or not _NAME.fullmatch(name):
            raise ApiError(400, "validation_invalid_name",
                           f"name '{name}' is invalid: use lowercase letters, digits and hyphens, starting with a "
                           f"letter, at most 63 characters")
        store = getattr(self, collection)
        if any(r["name"] == name for r in store.values()):
            raise ApiError(409, "validation_unique_failed", f"The {kind} name '{name}' is already in use.")
        group = (body.get("resource_group") or {}).get("id") or self.resource_groups[0]
        if group not in self.resource_groups:
            raise ApiError(400, "resource_group_not_found", f"Resource group with id '{group}' was not found.")
        url_part = {"gateway": "public_gateways"}.get(kind, collection)
        resource = {"id": resource_id, "name": name, "href": f"/v1/{url_part}/{resource_id}",
                    "crn": f"crn:v1:bluemix:public:is:{self.region}:a/account::{kind}:{resource_id}",
                    "created_at": _now(), "resource_group": {"id": group}}
        store[resource_id] = resource
        return resource

    def _get(self, store: Mapping[str, dict[str, Any]], resource_id: str, kind: str) -> dict[str, Any]:
        found = store.get(resource_id)
        if found is None:
            raise ApiError(404, f"{kind}_not_found", f"{kind.replace('_', ' ').capitalize()} not found: "
                                                     f"'{resource_id}'.")
        return found

    def _identity(self, body: Mapping[str, Any], field: str, store: Mapping[str, dict[str, Any]],
                  kind: str) -> dict[str, Any]:
        value = body.get(field)
        if not isinstance(value, Mapping) or not value.get("id"):
            raise ApiError(400, "missing_field", f"The field '{field}' (with its 'id') is required.")
        return self._get(store, str(value["id"]), kind)

    def _zone(self, body: Mapping[str, Any]) -> str:
        zone = (body.get("zone") or {}).get("name")
        if not zone:
            raise ApiError(400, "missing_field", "The field 'zone' (with its 'name') is required.")
        if zone not in self.zones:
            raise ApiError(404, "zone_not_found", f"Zone '{zone}' not found in region {self.region}.")
        return str(zone)

    def _page(self, request: FakeRequest, name: str, items: list[dict[str, Any]]) -> FakeResponse:
        """One page of a listing (``page_size`` items unless ``limit`` says fewer), with the ``next`` link."""
        start = int(_query(request, "start") or 0)
        limit = min(int(_query(request, "limit") or self.page_size), self.page_size)
        page: dict[str, Any] = {name: items[start:start + limit], "limit": limit, "total_count": len(items),
                                "first": {"href": f"{self.url}{request.path}?limit={limit}"}}
        if start + limit < len(items):
            page["next"] = {"href": f"{self.url}{request.path}?limit={limit}&start={start + limit}"}
        return 200, page

    def _filter(self, request: FakeRequest, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        vpc = _query(request, "vpc.id")
        group = _query(request, "resource_group.id")
        return [i for i in items if (vpc is None or i.get("vpc", {}).get("id") == vpc)
                and (group is None or i["resource_group"]["id"] == group)]

    # -- VPCs, subnets, gateways, security groups ------------------------------------------------------------
    def list_vpcs(self, request: FakeRequest) -> FakeResponse:
        """GET /vpcs."""
        return self._page(request, "vpcs", self._filter(request, self.vpcs.values()))

    def get_vpc(self, request: FakeRequest) -> FakeResponse:
        """GET /vpcs/{id}."""
        return 200, self._get(self.vpcs, request.params["id"], "vpc")

    def create_vpc(self, request: FakeRequest) -> FakeResponse:
        """POST /vpcs: with its default security group."""
        vpc = self._new("vpcs", "r006", request.json() or {}, "vpc")
        vpc["status"] = "available"
        group = self._new("security_groups", "r006", {"resource_group": vpc["resource_group"]}, "security_group")
        group.update(vpc=_ref(vpc), rules=[])
        vpc["default_security_group"] = _ref(group)
        return 201, vpc

    def list_subnets(self, request: FakeRequest) -> FakeResponse:
        """GET /subnets."""
        zone = _query(request, "zone.name")
        return self._page(request, "subnets", [s for s in self._filter(request, self.subnets.values())
                                      if zone is None or s["zone"]["name"] == zone])

    def get_subnet(self, request: FakeRequest) -> FakeResponse:
        """GET /subnets/{id}."""
        return 200, self._get(self.subnets, request.params["id"], "subnet")

    def create_subnet(self, request: FakeRequest) -> FakeResponse:
        """POST /subnets: a VPC, a zone and an address count or CIDR block are required."""
        body = request.json() or {}
        vpc = self._identity(body, "vpc", self.vpcs, "vpc")
        zone = self._zone(body)
        if not body.get("total_ipv4_address_count") and not body.get("ipv4_cidr_block"):
            raise ApiError(400, "missing_field", "One of 'total_ipv4_address_count' or 'ipv4_cidr_block' is "
                                                 "required.")
        subnet = self._new("subnets", "0717", body, "subnet")
        subnet.update(vpc=_ref(vpc), zone={"name": zone}, status="available",
                      ipv4_cidr_block=body.get("ipv4_cidr_block") or "10.240.0.0/24")
        return 201, subnet

    def set_subnet_public_gateway(self, request: FakeRequest) -> FakeResponse:
        """PUT /subnets/{id}/public_gateway: the gateway must be in the subnet's VPC and zone."""
        subnet = self._get(self.subnets, request.params["id"], "subnet")
        body = request.json() or {}
        gateway = self._get(self.gateways, str(body.get("id")), "public_gateway")
        if gateway["vpc"]["id"] != subnet["vpc"]["id"] or gateway["zone"]["name"] != subnet["zone"]["name"]:
            raise ApiError(400, "public_gateway_invalid",
                           "The public gateway must be in the same VPC and zone as the subnet.")
        subnet["public_gateway"] = _ref(gateway)
        return 201, gateway

    def list_public_gateways(self, request: FakeRequest) -> FakeResponse:
        """GET /public_gateways."""
        return self._page(request, "public_gateways", self._filter(request, self.gateways.values()))

    def get_gateway(self, request: FakeRequest) -> FakeResponse:
        """GET /public_gateways/{id}."""
        return 200, self._get(self.gateways, request.params["id"], "public_gateway")

    def create_gateway(self, request: FakeRequest) -> FakeResponse:
        """POST /public_gateways: one per VPC and zone."""
        body = request.json() or {}
        vpc = self._identity(body, "vpc", self.vpcs, "vpc")
        zone = self._zone(body)
        if any(g["vpc"]["id"] == vpc["id"] and g["zone"]["name"] == zone for g in self.gateways.values()):
            raise ApiError(409, "public_gateway_exists", f"VPC '{vpc['id']}' already has a public gateway in zone "
                                                         f"{zone}.")
        gateway = self._new("gateways", "r006", body, "gateway")
        gateway.update(vpc=_ref(vpc), zone={"name": zone}, status="available")
        return 201, gateway

    def list_security_groups(self, request: FakeRequest) -> FakeResponse:
        """GET /security_groups."""
        return self._page(request, "security_groups", self._filter(request, self.security_groups.values()))

    def get_security_group(self, request: FakeRequest) -> FakeResponse:
        """GET /security_groups/{id}."""
        return 200, self._get(self.security_groups, request.params["id"], "security_group")

    def create_security_group(self, request: FakeRequest) -> FakeResponse:
        """POST /security_groups."""
        body = request.json() or {}
        vpc = self._identity(body, "vpc", self.vpcs, "vpc")
        group = self._new("security_groups", "r006", body, "security_group")
        group.update(vpc=_ref(vpc), rules=[self._rule(r) for r in body.get("rules") or []])
        return 201, group

    def create_security_group_rule(self, request: FakeRequest) -> FakeResponse:
        """POST /security_groups/{id}/rules."""
        group = self._get(self.security_groups, request.params["id"], "security_group")
        rule = self._rule(request.json() or {})
        group["rules"].append(rule)
        return 201, rule

    @staticmethod
    def _rule(body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("direction") not in ("inbound", "outbound"):
            raise ApiError(400, "validation_invalid_argument", "A rule's 'direction' must be inbound or outbound.")
        if body.get("protocol", "all") not in ("all", "tcp", "udp", "icmp"):
            raise ApiError(400, "validation_invalid_argument", f"Unknown protocol '{body.get('protocol')}'.")
        return {"id": f"r006-{uuid.uuid4()}", **body}

    # -- images ----------------------------------------------------------------------------------------------
    def list_images(self, request: FakeRequest) -> FakeResponse:
        """GET /images (filters: name, visibility, status)."""
        name = _query(request, "name")
        visibility = _query(request, "visibility")
        status = (request.query.get("status") or [""])[0].split(",")
        return self._page(request, "images", [i for i in self.images.values() if (name is None or i["name"] == name)
                                     and (visibility is None or i["visibility"] == visibility)
                                     and (status == [""] or i["status"] in status)])

    def get_image(self, request: FakeRequest) -> FakeResponse:
        """GET /images/{id}."""
        return 200, self._get(self.images, request.params["id"], "image")

    # -- floating IPs ----------------------------------------------------------------------------------------
    def list_floating_ips(self, request: FakeRequest) -> FakeResponse:
        """GET /floating_ips (filter: target.id)."""
        target = _query(request, "target.id")
        return self._page(request, "floating_ips", [f for f in self.floating_ips.values()
                                           if target is None or f.get("target", {}).get("id") == target])

    def get_floating_ip(self, request: FakeRequest) -> FakeResponse:
        """GET /floating_ips/{id}."""
        return 200, self._get(self.floating_ips, request.params["id"], "floating_ip")

    def create_floating_ip(self, request: FakeRequest) -> FakeResponse:
        """POST /floating_ips bound to an instance's network interface (``target.id``)."""
        body = request.json() or {}
        target = (body.get("target") or {}).get("id")
        if not target and not body.get("zone"):
            raise ApiError(400, "missing_field", "One of 'target' or 'zone' is required.")
        instance = next((i for i in self.instances.values()
                         if i["primary_network_interface"]["id"] == target), None) if target else None
        if target and instance is None:
            raise ApiError(404, "network_interface_not_found", f"Network interface not found: '{target}'.")
        if instance is not None and any(f.get("target", {}).get("id") == target for f in self.floating_ips.values()):
            raise ApiError(409, "floating_ip_target_in_use", f"Network interface '{target}' already has a floating "
                                                             f"IP.")
        fip = self._new("floating_ips", "r006", body, "floating_ip")
        fip.update(status="available", address=self.vms.address(instance["id"]) if instance else "203.0.113.9",
                   zone={"name": instance["zone"]["name"] if instance else self._zone(body)})
        if instance is not None:
            fip["target"] = {"id": target, "resource_type": "network_interface"}
        return 201, fip

    def delete_floating_ip(self, request: FakeRequest) -> FakeResponse:
        """DELETE /floating_ips/{id}."""
        self._get(self.floating_ips, request.params["id"], "floating_ip")
        del self.floating_ips[request.params["id"]]
        return 204, b""

    # -- instances -------------------------------------------------------------------------------------------
    def _metadata(self, instance_id: str) -> list[Any]:
        from lithops_vm.testing.cloud_vms import MetadataRoute

        instance = self.instances.get(instance_id)
        if instance is None or not instance.get("metadata_service", {}).get("enabled"):
            return []  # the metadata service is off unless the instance was created with it on
        bearer = {"Authorization": f"Bearer {IDENTITY_TOKEN}"}
        routes = [MetadataRoute("/instance_identity/v1/token", json.dumps({
                      "access_token": IDENTITY_TOKEN, "created_at": _now(), "expires_at": _now(), "expires_in": 300}),
                      method="PUT", headers={"Metadata-Flavor": "ibm"}),
                  MetadataRoute("/metadata/v1/instance", json.dumps(
                      {k: instance[k] for k in ("id", "name", "crn", "zone", "profile", "vpc")}), headers=bearer)]
        profile = instance.get("default_trusted_profile")
        if profile:
            token = self.iam.issue(f"profile-{profile['target']['id']}")
            if profile["target"]["id"] in self.profiles_without_cos:
                token["access_token"] += "-of-a-profile-without-cos-access"
            routes.append(MetadataRoute("/instance_identity/v1/iam_token", json.dumps(token), method="POST",
                                        headers={**bearer, "Metadata-Flavor": "ibm"}))
        return routes

    def _status(self, instance: dict[str, Any]) -> dict[str, Any]:
        """Move the instance along its timed transitions; a running instance whose guest powered itself off is
        stopped.
        """
        now = time.monotonic()
        while instance.get("_next") and instance["_next"][1] <= now:
            status, _ = instance.pop("_next")
            instance["status"] = status
            if status == "starting":
                instance["_next"] = ("running", now + self.transition)
        if instance["status"] == "running" and self.vms.powered_off(instance["id"]):
            instance["status"] = "stopped"
            self.vms.stop(instance["id"])
        return instance

    def _view(self, instance: dict[str, Any]) -> dict[str, Any]:
        self._status(instance)
        view = {k: v for k, v in instance.items() if not k.startswith("_") and k != "user_data"}
        address = self.vms.address(instance["id"]) or "0.0.0.0"
        view["primary_network_interface"] = {**instance["primary_network_interface"],
                                             "primary_ip": {"address": address}}
        return view

    def list_instances(self, request: FakeRequest) -> FakeResponse:
        """GET /instances (filters: vpc.id, resource_group.id, name)."""
        name = _query(request, "name")
        with self.lock:
            found = [self._view(i) for i in self._filter(request, self.instances.values())
                     if name is None or i["name"] == name]
        return self._page(request, "instances", found)

    def get_instance(self, request: FakeRequest) -> FakeResponse:
        """GET /instances/{id}."""
        with self.lock:
            return 200, self._view(self._get(self.instances, request.params["id"], "instance"))

    def create_instance(self, request: FakeRequest) -> FakeResponse:
        """POST /instances: checks the prototype as the VPC API does, then boots a host with its user data."""
        body = request.json() or {}
        with self.lock:
            profile = (body.get("profile") or {}).get("name")
            if not profile:
                raise ApiError(400, "missing_field", "The field 'profile' (with its 'name') is required.")
            if profile not in PROFILES:
                raise ApiError(404, "instance_profile_not_found", f"Instance profile '{profile}' not found.")
            vpc = self._identity(body, "vpc", self.vpcs, "vpc")
            zone = self._zone(body)
            image = self._identity(body, "image", self.images, "image")
            nic = body.get("primary_network_interface") or {}
            subnet = self._identity(nic, "subnet", self.subnets, "subnet")
            if subnet["vpc"]["id"] != vpc["id"] or subnet["zone"]["name"] != zone:
                raise ApiError(400, "subnet_invalid", f"Subnet '{subnet['id']}' is not in VPC '{vpc['id']}' and "
                                                      f"zone {zone}.")
            for group in nic.get("security_groups") or []:
                found = self._get(self.security_groups, str(group.get("id")), "security_group")
                if found["vpc"]["id"] != vpc["id"]:
                    raise ApiError(400, "security_group_invalid", f"Security group '{found['id']}' is not in VPC "
                                                                  f"'{vpc['id']}'.")
            for key in body.get("keys") or []:
                self._get(self.keys, str(key.get("id")), "key")
            trusted = (body.get("default_trusted_profile") or {}).get("target", {}).get("id")
            if trusted is not None and trusted not in self.trusted_profiles:
                raise ApiError(404, "trusted_profile_not_found", f"Trusted profile not found: '{trusted}'.")
            used = sum(PROFILES[i["profile"]["name"]] for i in self.instances.values())
            if used + PROFILES[profile] > self.vcpu_quota:
                raise ApiError(403, "over_quota", f"Quota exceeded: the instance needs {PROFILES[profile]} vCPUs "
                                                  f"but only {self.vcpu_quota - used} of the account's "
                                                  f"{self.vcpu_quota} vCPUs in {self.region} are left.")
            instance = self._new("instances", "0717", body, "instance")
            instance.update(
                status="pending", _next=("starting", time.monotonic() + self.transition),
                profile={"name": profile}, vpc=_ref(vpc), zone={"name": zone}, image=_ref(image),
                vcpu={"count": PROFILES[profile]}, user_data=body.get("user_data") or "",
                metadata_service={"enabled": bool((body.get("metadata_service") or {}).get("enabled"))},
                primary_network_interface={"id": f"0717-{uuid.uuid4()}", "name": "eth0", "subnet": _ref(subnet)},
                keys=list(body.get("keys") or []))
            if trusted is not None:
                instance["default_trusted_profile"] = {"target": {"id": trusted}}
            self.created.append(body)
            host = self.vms.assign(instance["id"], instance["user_data"])
            if host is None:
                del self.instances[instance["id"]]
                raise ApiError(409, "insufficient_capacity", f"Insufficient capacity for profile {profile} in zone "
                                                             f"{zone}; try again later or another zone.")
            return 201, self._view(instance)

    def delete_instance(self, request: FakeRequest) -> FakeResponse:
        """DELETE /instances/{id}: gone at once (the real one is ``deleting`` for a while)."""
        with self.lock:
            self._get(self.instances, request.params["id"], "instance")
            del self.instances[request.params["id"]]
        self.vms.delete(request.params["id"])
        return 204, b""

    def create_instance_action(self, request: FakeRequest) -> FakeResponse:
        """POST /instances/{id}/actions: start a stopped instance, stop a running one; refuse the rest."""
        body = request.json() or {}
        action = body.get("type")
        with self.lock:
            instance = self._status(self._get(self.instances, request.params["id"], "instance"))
            status = instance["status"]
            if action == "start":
                if status != "stopped":
                    raise ApiError(409, "instance_action_invalid",
                                   f"The start action cannot be performed on an instance in the {status} state.")
                instance["status"] = "starting"
                instance["_next"] = ("running", time.monotonic() + self.transition)
            elif action in ("stop", "reboot"):
                if status not in ("running", "starting"):
                    raise ApiError(409, "instance_action_invalid",
                                   f"The {action} action cannot be performed on an instance in the {status} state.")
                if action == "stop":
                    instance["status"] = "stopping"
                    instance["_next"] = ("stopped", time.monotonic() + self.stop_delay)
            else:
                raise ApiError(400, "validation_invalid_argument", f"Unknown action type '{action}': use start, "
                                                                   f"stop or reboot.")
        if action == "start":
            self.vms.boot_later(instance["id"])
        elif action == "stop":
            self.vms.stop(instance["id"])
        return 201, {"id": f"0717-{uuid.uuid4()}", "type": action, "status": "pending", "created_at": _now()}
