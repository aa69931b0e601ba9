"""A local fake of the Compute Engine API (REST, ``/compute/v1``), strict where the real one is, whose instances
can be played by network-namespace hosts (:class:`lithops_vm.testing.cloud_vms.CloudVMs`).

Instances are inserted, read, listed (``labels.KEY = "VALUE"`` filters), started, stopped and deleted through zone
operations as Compute Engine returns them: a pending operation, done later, with ``error.errors`` (code and message)
and ``httpErrorStatusCode`` when it failed. Like Compute Engine it refuses an unknown zone, machine type, image or
network, a bad instance name or label, a missing boot disk or network interface, a Spot VM that restarts on
maintenance, a name in use, a start while the instance is stopping; an insert's or start's operation fails
with ``QUOTA_EXCEEDED`` when the region's CPU quota (of instances not stopped) would be passed and
``ZONE_RESOURCE_POOL_EXHAUSTED`` in a zone out of capacity (or, for an insert, with no free host to play the VM).

Given a network, the fake listens on its bridge address and each inserted instance's ``startup-script`` runs on a
free host at every boot (insert and start), as root, with a metadata server that answers Compute Engine's paths
(``/computeMetadata/v1/instance/name``, ``id``, ``zone`` and the service account's token) only to requests carrying
``Metadata-Flavor: Google`` (403 otherwise). :class:`StorageRelay` makes a storage emulator reachable from the VMs,
refusing code downloads without a bearer token as Cloud Storage refuses anonymous reads of a private bucket.
"""

from __future__ import annotations

import copy
import http.client
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from lithops.backends.helpers import request_body
from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, QuietHandler
from lithops_gcp.testing.google_fake import GoogleFake

if TYPE_CHECKING:
    from lithops_vm.testing.cloud_vms import CloudVMs, MetadataRoute
    from lithops_vm.testing.netns import HostNetwork

API = "https://www.googleapis.com/compute/v1"
_ZONE = r"/compute/v1/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)"
_NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")
_FILTER_RE = re.compile(r'\s*labels\.(?P<key>[a-z][a-z0-9_-]*)\s*=\s*"?(?P<value>[a-z0-9_-]*)"?\s*')
#: Machine types and their vCPUs.
MACHINE_TYPES = {"e2-micro": 2, "e2-small": 2, "e2-medium": 2, "e2-standard-2": 2, "e2-standard-4": 4,
                 "n2-standard-2": 2, "n2-standard-8": 8, "c3-standard-22": 22}
#: Public images and families (and their projects' images that a test adds).
IMAGES = {"projects/debian-cloud/global/images/family/debian-12",
          "projects/debian-cloud/global/images/family/debian-13",
          "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
          "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"}
#: Largest metadata value, in bytes.
METADATA_VALUE_MAX = 256 * 1024


def _strip(link: str) -> str:
    """A resource link without Compute Engine's URL prefix (``projects/...``, ``zones/...``, ``global/...``)."""
    for prefix in (API + "/", "https://compute.googleapis.com/compute/v1/"):
        if link.startswith(prefix):
            return link[len(prefix):]
    return link


class FakeComputeEngine(GoogleFake):
    """The Compute Engine API for one project.

    Args:
        project: the only project.
        zones: the zones that exist.
        network: namespace hosts to play the instances (none: instances run nowhere).
        env: the environment of the startup-scripts (standing for what the VM's service account gives).
        cpu_quota: vCPUs of instances that may exist in a region (not counting deleted ones).
    """

    def __init__(self, project: str, zones: Sequence[str] = ("us-east1-b",), network: HostNetwork | None = None,
                 env: Mapping[str, str] | None = None, cpu_quota: int = 24) -> None:
        super().__init__(project, sorted({z.rsplit("-", 1)[0] for z in zones}), "compute.googleapis.com")
        self.zones = set(zones)
        self.cpu_quota = cpu_quota
        self.images = set(IMAGES)
        #: zones out of capacity: inserts fail with ZONE_RESOURCE_POOL_EXHAUSTED
        self.exhausted_zones: set[str] = set()
        #: seconds an instance stays STOPPING after stop (and before it is gone after delete)
        self.stop_delay = 2.0
        #: when set, new instances never leave STAGING
        self.stuck = False
        self.number = str(1000000 + secrets.randbelow(9000000))
        self.instances: dict[str, dict[str, Any]] = {}
        #: the instance bodies of the insert requests
        self.inserts: list[dict[str, Any]] = []
        self.tokens: dict[str, str] = {}
        self.vms: CloudVMs | None = None
        if network is not None:
            from lithops_vm.testing.cloud_vms import CloudVMs

            self.host = network.gateway
            self.vms = CloudVMs(network, self.metadata_routes, env=env)
        self.route("POST", _ZONE + "/instances", self.insert)
        self.route("GET", _ZONE + "/instances", self.list_instances)
        self.route("GET", _ZONE + r"/instances/(?P<name>[^/]+)", self.get_instance)
        self.route("DELETE", _ZONE + r"/instances/(?P<name>[^/]+)", self.delete_instance)
        self.route("POST", _ZONE + r"/instances/(?P<name>[^/]+)/start", self.start_instance)
        self.route("POST", _ZONE + r"/instances/(?P<name>[^/]+)/stop", self.stop_instance)
        self.route("GET", _ZONE + r"/operations/(?P<operation>[^/]+)", self.get_zone_operation)

    def api_title(self) -> str:
        """As Google names it."""
        return "Compute Engine API"

    def error_body(self, status: int, code: str, message: str) -> Any:
        """Compute Engine's error JSON: the message, and ``errors`` with the reason."""
        return {"error": {"code": status, "message": message,
                          "errors": [{"message": message, "domain": "global", "reason": code}]}}

    # -- the VMs' metadata server ----------------------------------------------------------------------------
    def metadata_routes(self, name: str) -> list[MetadataRoute]:
        """What the metadata server of instance ``name`` answers (only with ``Metadata-Flavor: Google``)."""
        from lithops_vm.testing.cloud_vms import MetadataRoute

        with self.lock:
            instance = self.instances.get(name, {})
            token = self.tokens.setdefault(name, secrets.token_hex(12))
        zone = str(instance.get("zone", "")).rsplit("/", 1)[-1]
        flavor = {"Metadata-Flavor": "Google"}
        base = "/computeMetadata/v1/instance/"
        return [MetadataRoute(base + "name", name, headers=flavor, refusal=403),
                MetadataRoute(base + "id", str(instance.get("id", "")), headers=flavor, refusal=403),
                MetadataRoute(base + "zone", f"projects/{self.number}/zones/{zone}", headers=flavor, refusal=403),
                MetadataRoute(base + "service-accounts/default/token",
                              json.dumps({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
                              headers=flavor, refusal=403)]

    # -- checks ----------------------------------------------------------------------------------------------
    def _check_zone(self, request: FakeRequest) -> str:
        project, zone = request.params["project"], request.params["zone"]
        if project != self.project:
            raise ApiError(403, "forbidden", f"Required 'compute.instances.list' permission for 'projects/"
                                                 f"{project}'")
        if zone not in self.zones:
            raise ApiError(400, "invalid", f"Invalid value for field 'zone': '{zone}'. Unknown zone.")
        return zone

    def _check_instance(self, body: Any, zone: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "required", "Required field 'resource' not specified")
        name = str(body.get("name") or "")
        if not _NAME_RE.fullmatch(name):
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.name': '{name}'. Must be a match "
                                               f"of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'")
        machine = _strip(str(body.get("machineType") or ""))
        if not machine:
            raise ApiError(400, "required", "Required field 'resource.machineType' not specified")
        found = re.fullmatch(r"(?:projects/[^/]+/)?zones/(?P<zone>[^/]+)/machineTypes/(?P<type>[^/]+)", machine)
        if found is None or found["zone"] != zone or found["type"] not in MACHINE_TYPES:
            kind = found["type"] if found else machine
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.machineType': '{machine}'. "
                                               f"Machine type with name '{kind}' does not exist in zone '{zone}'.")
        disks = body.get("disks") or []
        boot = [d for d in disks if d.get("boot")]
        if len(boot) != 1:
            raise ApiError(400, "invalid", "Invalid value for field 'resource.disks': ''. Exactly one boot disk "
                                               "must be specified.")
        image = _strip(str((boot[0].get("initializeParams") or {}).get("sourceImage") or ""))
        if not image and not boot[0].get("source"):
            raise ApiError(400, "required", "Required field 'resource.disks[0].initializeParams.sourceImage' not "
                                                "specified")
        if image and image not in self.images:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.disks[0].initializeParams."
                                               f"sourceImage': '{image}'. The referenced image resource cannot be "
                                               f"found.")
        size = int((boot[0].get("initializeParams") or {}).get("diskSizeGb") or 10)
        if size < 10:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.disks[0].initializeParams."
                                               f"diskSizeGb': '{size}'. Requested disk size cannot be smaller than "
                                               f"the image size (10 GB)")
        interfaces = body.get("networkInterfaces") or []
        if not interfaces:
            raise ApiError(400, "required", "Required field 'resource.networkInterfaces' not specified")
        network = _strip(str(interfaces[0].get("network") or "global/networks/default"))
        if network not in ("global/networks/default", f"projects/{self.project}/global/networks/default"):
            raise ApiError(404, "notFound", f"The resource 'projects/{self.project}/{network}' was not found")
        for key, value in (body.get("labels") or {}).items():
            if not _LABEL_KEY_RE.fullmatch(key) or not _LABEL_VALUE_RE.fullmatch(str(value)):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.labels': ''. Label "
                                                   f"'{key}={value}' violates format constraints: keys and values "
                                                   f"can only contain lowercase letters, numeric characters, "
                                                   f"underscores and dashes.")
        for item in (body.get("metadata") or {}).get("items") or []:
            if not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", str(item.get("key") or "")):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.metadata': "
                                                   f"'{item.get('key')}'. Metadata keys must match [a-zA-Z0-9-_].")
            if len(str(item.get("value") or "").encode()) > METADATA_VALUE_MAX:
                raise ApiError(400, "invalid", "Invalid value for field 'resource.metadata': ''. Metadata value "
                                                   "is too large (at most 256 KB).")
        scheduling = body.get("scheduling") or {}
        if scheduling.get("provisioningModel") == "SPOT" or scheduling.get("preemptible"):
            if scheduling.get("automaticRestart", True) or scheduling.get("onHostMaintenance") != "TERMINATE":
                raise ApiError(400, "invalid", "Invalid value for field 'resource.scheduling': ''. Spot and "
                                                   "preemptible instances must have automaticRestart false and "
                                                   "onHostMaintenance TERMINATE.")
        for account in body.get("serviceAccounts") or []:
            email = str(account.get("email") or "")
            if email != "default" and not email.endswith((f"@{self.project}.iam.gserviceaccount.com",
                                                          "-compute@developer.gserviceaccount.com")):
                raise ApiError(400, "invalid", f"The user does not have access to service account '{email}'. "
                                                   f"Ask a project owner to grant you the iam.serviceAccountUser "
                                                   f"role on the service account.")
        return body

    # -- operations ------------------------------------------------------------------------------------------
    def _operation(self, zone: str, kind: str, name: str) -> dict[str, Any]:
        op_name = f"operation-{int(time.time() * 1000)}-{uuid.uuid4().hex[:12]}"
        zone_link = f"{API}/projects/{self.project}/zones/{zone}"
        operation = {"kind": "compute#operation", "id": str(secrets.randbelow(10 ** 18)), "name": op_name,
                     "zone": zone_link, "operationType": kind, "targetLink": f"{zone_link}/instances/{name}",
                     "status": "RUNNING", "progress": 0, "user": "lithops-test@example.com",
                     "insertTime": time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime()),
                     "selfLink": f"{zone_link}/operations/{op_name}"}
        with self.lock:
            self.operations[op_name] = operation
        return copy.deepcopy(operation)

    def _done(self, op_name: str, error: tuple[str, str, int, str] | None = None) -> None:
        """Finish an operation, or fail it with ``(code, message, HTTP status, HTTP status text)``."""
        with self.lock:
            operation = self.operations[op_name]
            operation.update(status="DONE", progress=100)
            if error is not None:
                operation["error"] = {"errors": [{"code": error[0], "message": error[1]}]}
                operation["httpErrorStatusCode"], operation["httpErrorMessage"] = error[2], error[3]
                self.refused.append(f"{error[0]}: {error[1]}")

    def get_zone_operation(self, request: FakeRequest) -> FakeResponse:
        """GET .../zones/ZONE/operations/NAME."""
        self._check_zone(request)
        with self.lock:
            operation = self.operations.get(request.params["operation"])
            if operation is None:
                raise ApiError(404, "notFound", f"The resource 'projects/{self.project}/zones/"
                                                f"{request.params['zone']}/operations/{request.params['operation']}' "
                                                f"was not found")
            return 200, copy.deepcopy(operation)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        timer.start()

    # -- instances -------------------------------------------------------------------------------------------
    def _find(self, request: FakeRequest) -> dict[str, Any]:
        zone = self._check_zone(request)
        name = request.params["name"]
        instance = self.instances.get(name)
        if instance is None or not instance["zone"].endswith(f"/zones/{zone}"):
            raise ApiError(404, "notFound", f"The resource 'projects/{self.project}/zones/{zone}/instances/{name}' "
                                            f"was not found")
        self._notice_power_off(instance)
        return instance

    def _notice_power_off(self, instance: dict[str, Any]) -> None:
        """A running VM whose guest powered itself off (the ``shutdown`` command, as the agent does when idle) is
        stopped, as Compute Engine stops it: TERMINATED, its processes ended.
        """
        name = instance["name"]
        if self.vms is not None and instance["status"] == "RUNNING" and self.vms.powered_off(name):
            instance["status"] = "TERMINATED"
            self.vms.stop(name)

    def insert(self, request: FakeRequest) -> FakeResponse:
        """POST .../zones/ZONE/instances."""
        zone = self._check_zone(request)
        body = self._check_instance(request.json(), zone)
        name = body["name"]
        zone_link = f"{API}/projects/{self.project}/zones/{zone}"
        with self.lock:
            self.inserts.append(copy.deepcopy(body))
            if name in self.instances:
                raise ApiError(409, "alreadyExists", f"The resource 'projects/{self.project}/zones/{zone}/"
                                                         f"instances/{name}' already exists")
            interfaces = copy.deepcopy(body["networkInterfaces"])
            for i, interface in enumerate(interfaces):
                interface.update(name=f"nic{i}", network=f"{API}/projects/{self.project}/global/networks/default")
            disks = [{"boot": True, "autoDelete": True, "deviceName": "persistent-disk-0", "index": 0,
                      "source": f"{zone_link}/disks/{name}", "type": "PERSISTENT", "mode": "READ_WRITE"}]
            instance = {"kind": "compute#instance", "id": str(secrets.randbelow(10 ** 18)), "name": name,
                        "zone": zone_link, "status": "PROVISIONING", "selfLink": f"{zone_link}/instances/{name}",
                        "machineType": f"{zone_link}/machineTypes/{_strip(body['machineType']).rsplit('/', 1)[1]}",
                        "labels": dict(body.get("labels") or {}), "networkInterfaces": interfaces, "disks": disks,
                        "metadata": {"kind": "compute#metadata", "fingerprint": secrets.token_urlsafe(8),
                                     "items": list((body.get("metadata") or {}).get("items") or [])},
                        "scheduling": {"automaticRestart": True, "onHostMaintenance": "MIGRATE",
                                       "provisioningModel": "STANDARD", **(body.get("scheduling") or {})},
                        "serviceAccounts": body.get("serviceAccounts") or [],
                        "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime())}
            self.instances[name] = instance
        operation = self._operation(zone, "insert", name)
        self.in_background(lambda: self._provision(name, zone, operation["name"]))
        return 200, operation

    def _cpus_in_region(self, region: str) -> int:
        return sum(MACHINE_TYPES[i["machineType"].rsplit("/", 1)[1]] for i in self.instances.values()
                   if i["zone"].rsplit("/", 1)[1].rsplit("-", 1)[0] == region and i.get("counted")
                   and i["status"] != "TERMINATED")

    def _capacity_error(self, instance: Mapping[str, Any], zone: str) -> tuple[str, str, int, str] | None:
        """The error of an insert or start that would pass the region's CPU quota, or land in an exhausted zone."""
        region = zone.rsplit("-", 1)[0]
        cpus = MACHINE_TYPES[instance["machineType"].rsplit("/", 1)[1]]
        if self._cpus_in_region(region) + cpus > self.cpu_quota:
            return ("QUOTA_EXCEEDED", f"Quota 'CPUS' exceeded.  Limit: {float(self.cpu_quota)} in region {region}.",
                    403, "FORBIDDEN")
        if zone in self.exhausted_zones:
            return ("ZONE_RESOURCE_POOL_EXHAUSTED", f"The zone 'projects/{self.project}/zones/{zone}' does not have "
                                                    f"enough resources available to fulfill the request.  Try a "
                                                    f"different zone, or try again later.", 503, "SERVICE UNAVAILABLE")
        return None

    def _provision(self, name: str, zone: str, op_name: str) -> None:
        """The insert's slow part: quota, capacity, a host to play the VM, the first boot."""
        with self.lock:
            instance = self.instances[name]
            error = self._capacity_error(instance, zone)
            if error is None:
                instance["counted"] = True
        host = None
        if error is None and self.vms is not None:
            address = self._assign(name, instance)
            if address is None:
                error = ("ZONE_RESOURCE_POOL_EXHAUSTED", f"The zone 'projects/{self.project}/zones/{zone}' does not "
                                                         f"have enough resources available to fulfill the request.  "
                                                         f"Try a different zone, or try again later.", 503,
                         "SERVICE UNAVAILABLE")
            host = address
        with self.lock:
            if error is not None:
                self.instances.pop(name, None)
            else:
                for interface in instance["networkInterfaces"]:
                    interface["networkIP"] = host or "10.142.0.2"
                    for config in interface.get("accessConfigs") or []:
                        config["natIP"] = host or "203.0.113.2"
                instance["status"] = "STAGING" if self.stuck else "RUNNING"
        self._done(op_name, error)

    def _assign(self, name: str, instance: Mapping[str, Any]) -> str | None:
        """Give the VM a host and boot it there with its startup-script; its address, or None for no free host."""
        assert self.vms is not None
        script = next((i.get("value", "") for i in instance["metadata"]["items"] if i.get("key") == "startup-script"),
                      "")
        host = self.vms.assign(name, script if not self.stuck else "")
        return host.address if host is not None else None

    def get_instance(self, request: FakeRequest) -> FakeResponse:
        """GET .../zones/ZONE/instances/NAME."""
        with self.lock:
            return 200, self._public(self._find(request))

    @staticmethod
    def _public(instance: Mapping[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in instance.items() if k != "counted"}

    def list_instances(self, request: FakeRequest) -> FakeResponse:
        """GET .../zones/ZONE/instances, with a ``labels.KEY = "VALUE"`` filter (terms joined by AND)."""
        zone = self._check_zone(request)
        wanted: dict[str, str] = {}
        text = (request.query.get("filter") or [""])[0]
        for term in filter(None, re.split(r"\s+AND\s+", text.strip())):
            found = _FILTER_RE.fullmatch(term)
            if found is None:
                raise ApiError(400, "invalid", f"Invalid value for field 'filter': '{text}'. Invalid list "
                                                   f"filter expression.")
            wanted[found["key"]] = found["value"]
        with self.lock:
            listed = [i for _, i in sorted(self.instances.items()) if i["zone"].endswith(f"/zones/{zone}")
                      and all(i["labels"].get(k) == v for k, v in wanted.items())]
            for instance in listed:
                self._notice_power_off(instance)
            items = [self._public(i) for i in listed]
        answer: dict[str, Any] = {"kind": "compute#instanceList", "id": f"projects/{self.project}/zones/{zone}/"
                                                                       f"instances",
                                  "selfLink": f"{API}/projects/{self.project}/zones/{zone}/instances"}
        if items:  # Compute Engine leaves the field out of an empty list
            answer["items"] = items
        return 200, answer

    def start_instance(self, request: FakeRequest) -> FakeResponse:
        """POST .../instances/NAME/start: boots a stopped VM again (its startup-script runs); refused while
        stopping.
        """
        zone = request.params["zone"]
        with self.lock:
            instance = self._find(request)
            name = instance["name"]
            if instance["status"] in ("STOPPING", "SUSPENDING"):
                raise ApiError(400, "resourceNotReady", f"The resource 'projects/{self.project}/zones/{zone}/"
                                                            f"instances/{name}' is not ready")
            boot = instance["status"] == "TERMINATED"
            error = self._capacity_error(instance, zone) if boot else None
            if boot and error is None:
                instance["status"] = "RUNNING"
                if self.vms is not None:  # a new boot: the guest's earlier power-off is past
                    self.vms.boot_later(name)
        operation = self._operation(zone, "start", name)
        self._done(operation["name"], error)
        return 200, operation

    def stop_instance(self, request: FakeRequest) -> FakeResponse:
        """POST .../instances/NAME/stop: STOPPING for ``stop_delay`` seconds, then TERMINATED (stopped)."""
        zone = request.params["zone"]
        with self.lock:
            instance = self._find(request)
            name = instance["name"]
            running = instance["status"] in ("RUNNING", "STAGING", "PROVISIONING")
            if running:
                instance["status"] = "STOPPING"
        operation = self._operation(zone, "stop", name)
        if self.vms is not None and running:
            self.vms.stop(name)

        def stopped() -> None:
            with self.lock:
                if self.instances.get(name) is instance and instance["status"] == "STOPPING":
                    instance["status"] = "TERMINATED"
            self._done(operation["name"])

        self._later(self.stop_delay if running else 0, stopped)
        return 200, operation

    def delete_instance(self, request: FakeRequest) -> FakeResponse:
        """DELETE .../instances/NAME: its host is freed; the instance is gone after ``stop_delay`` seconds."""
        zone = request.params["zone"]
        with self.lock:
            instance = self._find(request)
            name = instance["name"]
            instance["status"] = "STOPPING"
        operation = self._operation(zone, "delete", name)
        if self.vms is not None:
            self.vms.delete(name)

        def gone() -> None:
            with self.lock:
                if self.instances.get(name) is instance:
                    del self.instances[name]
            self._done(operation["name"])

        self._later(self.stop_delay / 2, gone)
        return 200, operation

    def stop(self) -> None:
        """Stop serving; end every process the VMs started."""
        super().stop()
        if self.vms is not None:
            self.vms.close()


class StorageRelay:
    """A storage emulator that listens on loopback, which the VMs cannot reach, relayed on the hosts' bridge address.

    Downloads of the code zip must carry a bearer token, as Cloud Storage demands of a private bucket; the tokens
    are kept in :attr:`tokens` (the agent itself talks to the emulator anonymously).

    Args:
        target: ``host:port`` of the emulator.
        address: the address to listen on (the bridge's).
    """

    def __init__(self, target: str, address: str) -> None:
        self.tokens: list[str] = []
        relay = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                body = request_body(self.headers, self.rfile)
                if self.command == "GET" and "/o/lithops.standalone%2Fcode%2F" in self.path:
                    auth = self.headers.get("Authorization") or ""
                    if not auth.startswith("Bearer "):
                        self.send_whole(401, b'{"error": {"code": 401, "message": "Anonymous caller does not have '
                                             b'storage.objects.get access"}}', {"Content-Type": "application/json"})
                        return
                    relay.tokens.append(auth.removeprefix("Bearer "))
                connection = http.client.HTTPConnection(target, timeout=60)
                connection.request(self.command, self.path, body=body, headers={
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")})
                answer = connection.getresponse()
                data = answer.read()
                dropped = ("transfer-encoding", "connection") + (() if self.command == "HEAD" else ("content-length",))
                self.send_whole(answer.status, data, {k: v for k, v in answer.getheaders()
                                                      if k.lower() not in dropped})
                connection.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{address}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="storage-relay", daemon=True).start()

    def close(self) -> None:
        """Stop relaying."""
        self.server.shutdown()
        self.server.server_close()
