"""azure_vms end to end: the control plane is the local Resource Manager with Microsoft.Compute and
Microsoft.Network (lithops_azure.testing.compute_fake), whose VMs are network-namespace hosts that boot with the VM's
customData as cloud-init would run it: the kernel's real bootstrap asks IMDS for the VM's name, downloads the code
from a blob SAS URL and starts the agent, which works through an Azurite the hosts reach (on the bridge's address).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

import lithops
from conftest import running_azurite
from lithops.cli.standalone import standalone_backend
from lithops.config import default_config
from lithops.errors import BackendError, ConfigError
from lithops.testing import ComputeContract
from lithops_azure.auth import AzureCredentialsError
from lithops_azure.blob.storage import AzureBlobStorage
from lithops_azure.testing.azurite import Azurite
from lithops_azure.vms.provider import AzureVMs

vm_fixtures = pytest.importorskip("lithops_vm.testing.fixtures")
from lithops_azure.testing.compute_fake import FakeCompute  # noqa: E402

SHARED_NETWORK = {"virtualnetworks", "subnets", "networksecuritygroups"}


def _cube(x: int) -> int:
    return x ** 3


network = vm_fixtures.namespace_hosts("Azure VMs")


@pytest.fixture(scope="module")
def gateway_azurite(network: Any) -> Iterator[Azurite]:
    """An Azurite on the hosts' bridge address, which the client and the VMs both reach."""
    yield from running_azurite(network.gateway)


@pytest.fixture
def fake(network: Any) -> Iterator[FakeCompute]:
    """A fresh Resource Manager whose VMs are the namespace hosts."""
    arm = FakeCompute(network, polls=0).start()
    try:
        yield arm
    finally:
        arm.close()


def _config(arm: FakeCompute, azurite: Azurite, install_dir: str, bucket: str = "", **section: Any
            ) -> dict[str, Any]:
    """A full config on the fake and Azurite, with its container (made when absent)."""
    bucket = bucket or f"lithops-vms-{uuid.uuid4().hex[:8]}"
    AzureBlobStorage({"connection_string": azurite.connection_string}).create_bucket(bucket)
    return {
        "lithops": {"backend": "azure_vms", "storage": "azure_storage", "monitoring_interval": 0.1},
        "azure": {"subscription_id": arm.subscription, "resource_group": "lithops-rg", "region": "westeurope",
                  "arm_endpoint": arm.url, "access_token": arm.token},
        "azure_storage": {"connection_string": azurite.connection_string,
                          "storage_bucket": bucket},
        "azure_vms": {"exec_mode": "create", "max_workers": 2, "worker_processes": 2, "runtime": sys.executable,
                      "install_dir": install_dir, "start_timeout": 60, "soft_dismantle_timeout": 120, **section},
    }


@pytest.fixture
def config(fake: FakeCompute, gateway_azurite: Azurite, tmp_path: Any) -> dict[str, Any]:
    """azure_vms in create mode on two VMs; their runtime is this Python, their install folder a fresh one."""
    return _config(fake, gateway_azurite, str(tmp_path / "vm-install"))


def _section(config: dict[str, Any]) -> dict[str, Any]:
    return {**config["azure"], **config["azure_vms"]}


def _kinds(arm: FakeCompute) -> list[str]:
    """The kinds of resources in the fake, but the shared network pieces."""
    kinds = [r["type"].rsplit("/", 1)[1].lower() for r in arm.resources.values()]
    return sorted(k for k in kinds if k not in SHARED_NETWORK)


def _until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_create_mode_boots_the_agent_from_custom_data_and_deletes_what_it_made(config: dict[str, Any],
                                                                             fake: FakeCompute) -> None:
    del config["azure_vms"]["worker_processes"]
    config["standalone"] = {"worker_processes": 3}  # the section every standalone backend reads
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.mode == "standalone"
        assert fexec.map(_cube, range(8)).get_result() == [x ** 3 for x in range(8)]
        names = sorted(fake.vms.hosts)
        assert len(names) == 2
        assert _kinds(fake) == ["networkinterfaces", "networkinterfaces", "publicipaddresses", "publicipaddresses",
                                "virtualmachines", "virtualmachines"]
        for name in names:
            assert fake.vms.boots[name] == [0], fake.vms.log(name)
            script = fake.vms.user_data[name]
            assert "/metadata/instance/compute/name" in script and fake.token not in script
            with open(f"{config['azure_vms']['install_dir']}/agents/{name}/config.json", encoding="utf-8") as f:
                agent = json.load(f)
            assert agent["vm_id"] == name  # the name from IMDS took the placeholder's place
            assert agent["worker_processes"] == 3
        vm = next(r for r in fake.resources.values() if r["name"] == names[0])
        assert vm["properties"]["osProfile"]["adminUsername"] == "ubuntu" and "userData" not in vm["properties"]
        assert vm["properties"]["storageProfile"]["imageReference"]["publisher"]  # the default image
        host = fake.vms.hosts[names[0]]
        url = "http://169.254.169.254/metadata/instance/compute/name?api-version=2021-02-01&format=text"
        asked = subprocess.run(["ip", "netns", "exec", host.netns, sys.executable, "-c",
                                f"import urllib.request as u, urllib.error as e\ntry: u.urlopen({url!r})\n"
                                f"except e.HTTPError as x: print(x.code)"], capture_output=True, text=True, timeout=30)
        assert asked.stdout.strip() == "400"  # IMDS refuses a request without 'Metadata: true'
    _until(lambda: _kinds(fake) == [])  # the VMs, their NICs and public IPs are gone; the shared network stays
    assert {r["name"] for r in fake.resources.values()} == {"lithops-vnet", "lithops-subnet", "lithops-nsg"}


def test_reuse_mode_starts_a_deallocated_vm_once_it_is_deallocated(config: dict[str, Any],
                                                                    fake: FakeCompute) -> None:
    """A VM deallocated underneath is started once deallocated (Azure refuses before), not re-created, and its
    agent starts again at boot (the bootstrap's per-boot script; customData runs at the first boot only).
    """
    config["azure_vms"].update(exec_mode="reuse", max_workers=1)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 2).result(timeout=60) == 8
    [name] = fake.vms.hosts
    provider = AzureVMs(_section(config), "lithops-workers")
    [vm] = provider.list_vms()
    provider.stop([vm])
    assert [v.state for v in provider.list_vms()] == ["stopping"]
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 3).result(timeout=60) == 27
    assert list(fake.vms.hosts) == [name] and len(fake.vms.boots[name]) == 2
    assert not [r for r in fake.refused if "Operation 'start' is not allowed" in r]
    backend = standalone_backend(default_config(config))  # what lithops clean --all does
    try:
        assert [vm.id for vm in backend.clean_all()] == [name]
    finally:
        backend.close()
    _until(lambda: _kinds(fake) == [])  # the VM, its NIC and public IP


def test_azure_refusals_are_passed_on_and_nothing_is_left_behind(config: dict[str, Any], fake: FakeCompute,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    section = _section(config)

    def refused(match: str, **changes: Any) -> None:
        with pytest.raises(BackendError, match=match):
            AzureVMs({**section, **changes}, "lithops-workers").create(1)
        assert _kinds(fake) == []

    refused(r"InvalidParameter: The value Standard_Z9 provided for the VM size", worker_instance_type="Standard_Z9")
    refused(r"PlatformImageNotFound: The platform image 'Canonical:nope:1:latest'",
            image_id="Canonical:nope:1:latest")
    refused(r"image_id is 'ubuntu': give a platform image as publisher:offer:sku:version", image_id="ubuntu")
    fake.unavailable_sizes.add("Standard_B2s")
    refused(r"SkuNotAvailable: .*Capacity Restrictions: Standard_B2s")
    fake.unavailable_sizes.clear()
    fake.quota_cores = 1
    refused(r"OperationNotAllowed: .*exceeding approved Total Regional Cores quota.*Current Limit: 1")
    fake.quota_cores = None
    fake.vms.free, free = [], fake.vms.free
    try:
        refused(r"AllocationFailed: Allocation failed")  # a failed creation: the VM, its NIC and IP are deleted
    finally:
        fake.vms.free = free
    fake.providers.discard("Microsoft.Compute")
    refused(r"MissingSubscriptionRegistration: .*'az provider register --namespace Microsoft.Compute")
    fake.providers.add("Microsoft.Compute")
    with pytest.raises(AzureCredentialsError, match="InvalidAuthenticationToken"):
        AzureVMs({**section, "access_token": "expired"}, "lithops-workers").list_vms()
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AzureCredentialsError, match="Log in so that azure-identity finds a credential"):
        AzureVMs({**section, "access_token": None}, "lithops-workers").list_vms()  # no credential at all
    with pytest.raises(BackendError, match="ResourceGroupNotFound"):
        AzureVMs({**section, "resource_group": "nope"}, "lithops-workers").list_vms()
    with pytest.raises(ConfigError, match="resource_group"):
        AzureVMs({**section, "resource_group": None}, "lithops-workers")


def test_the_fake_refuses_vms_that_arm_refuses(config: dict[str, Any], fake: FakeCompute) -> None:
    """Missing admin user, NIC or image, a NIC in use or referring to a missing subnet, and start while
    deallocating, through the SDK itself.
    """
    provider = AzureVMs(_section(config), "lithops-workers")
    [vm] = provider.create(1)
    body = provider._vm_body(False, None, {})
    nic = next(r["id"] for r in fake.resources.values() if r["type"].endswith("networkInterfaces"))
    body["properties"]["networkProfile"] = {"networkInterfaces": [{"id": nic}]}
    vms = provider.compute.virtual_machines
    for path, match in ((("osProfile", "adminUsername"), "adminUsername"),
                        (("networkProfile",), "networkProfile"),
                        (("storageProfile", "imageReference"), "imageReference")):
        broken = json.loads(json.dumps(body))
        parent = broken["properties"]
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        with pytest.raises(HttpResponseError, match=match):
            vms.begin_create_or_update("lithops-rg", "broken", broken)
    nic_name = nic.rsplit("/", 1)[1]
    with pytest.raises(HttpResponseError, match="NicInUse"):
        provider.network.network_interfaces.begin_delete("lithops-rg", nic_name)
    with pytest.raises(HttpResponseError, match="InvalidResourceReference"):
        provider.network.network_interfaces.begin_create_or_update("lithops-rg", "other-nic", {
            "location": "westeurope", "properties": {"ipConfigurations": [{"name": "ip", "properties": {
                "subnet": {"id": nic.split("/providers/")[0] + "/providers/Microsoft.Network/virtualNetworks/"
                                                             "lithops-vnet/subnets/missing"}}}]}})
    provider.stop([vm])
    with pytest.raises(HttpResponseError, match=r"Operation 'start' is not allowed on VM .* deallocation"):
        vms.begin_start("lithops-rg", vm.id, polling=False)
    provider.delete([vm])


def test_start_waits_for_deallocation_and_a_vm_never_ready_fails_in_time(config: dict[str, Any],
                                                                         fake: FakeCompute) -> None:
    """The provider's own start waits for deallocation; a VM that never becomes ready fails after the timeout."""
    provider = AzureVMs(_section(config), "lithops-workers")
    [vm] = provider.create(1)
    provider.stop([vm])
    fake.delays["start"] = 60.0  # a VM that does not come up
    started = time.monotonic()
    provider.start([vm])  # waits until deallocated, then starts
    assert [v.state for v in provider.list_vms()] == ["pending"]
    with pytest.raises(BackendError, match=rf"VM {vm.id} is still pending after 2 s \(start_timeout\)"):
        provider.wait_ready(vm, 2)
    assert time.monotonic() - started < 30
    provider.delete([vm])


def test_a_vm_azure_cannot_start_fails_alone(config: dict[str, Any], fake: FakeCompute) -> None:
    """Starting a deallocated VM checks the cores quota again: the VM refused fails alone with Azure's message (the
    job goes on with the others under workers_policy permissive), the others start; a start that Azure accepted
    but could not allocate fails with AllocationFailed.
    """
    provider = AzureVMs(_section(config), "lithops-workers")
    vms = provider.create(2, user_data="true\n")  # a boot that is seen to end
    _until(lambda: all(fake.vms.boots.get(v.id) for v in vms))
    provider.stop(vms)
    _until(lambda: {v.state for v in provider.list_vms()} == {"stopped"})
    fake.quota_cores = 2  # one Standard_B2s
    provider.start(vms)
    outcomes = []
    for vm in vms:
        try:
            outcomes.append(provider.wait_ready(vm, 20).address)
        except BackendError as exc:
            outcomes.append(str(exc))
    assert len([o for o in outcomes if o in (fake.vms.address(v.id) for v in vms)]) == 1, outcomes
    assert any("could not be started: starting VM" in o and "OperationNotAllowed" in o and "quota" in o
               for o in outcomes), outcomes
    _until(lambda: sum(len(fake.vms.boots[v.id]) for v in vms) == 3)  # the one started booted again
    fake.quota_cores = None
    fake.no_capacity.add("Standard_B2s")  # no capacity: the start operation fails after it was accepted
    provider.stop(vms)
    _until(lambda: {v.state for v in provider.list_vms()} == {"stopped"})
    provider.start(vms[:1])
    with pytest.raises(BackendError, match=f"starting VM {vms[0].id} failed: AllocationFailed: Allocation failed"):
        provider.wait_ready(vms[0], 20)
    provider.delete(vms)


def test_spot_vms(config: dict[str, Any], fake: FakeCompute) -> None:
    provider = AzureVMs(_section(config), "lithops-workers")
    [vm] = provider.create(1, spot=True, tags={"lithops_exec_mode": "create"})
    made = next(r for r in fake.resources.values() if r["name"] == vm.id)["properties"]
    assert (made["priority"], made["evictionPolicy"], made["billingProfile"]) == ("Spot", "Delete", {"maxPrice": -1})
    [listed] = provider.list_vms()
    assert listed.spot and listed.extra == {"lithops_exec_mode": "create"}
    provider.delete([vm])


def test_ssh_key_and_allowed_cidr(config: dict[str, Any], fake: FakeCompute, network: Any) -> None:
    """ssh_key_filename's public key goes on the VMs (no password); port 22 opens to ssh_allowed_cidr only."""
    provider = AzureVMs({**_section(config), "ssh_key_filename": network.client_key, "ssh_username": "azureuser",
                         "ssh_port": 22, "ssh_allowed_cidr": "198.51.100.0/24"}, "lithops-workers")
    [vm] = provider.create(1)
    made = next(r for r in fake.resources.values() if r["name"] == vm.id)["properties"]["osProfile"]
    linux = made["linuxConfiguration"]
    with open(network.client_key + ".pub", encoding="utf-8") as f:
        assert linux["ssh"]["publicKeys"][0]["keyData"] == f.read().strip()
    assert linux["disablePasswordAuthentication"] is True
    [nsg] = [r for r in fake.resources.values() if r["name"] == "lithops-nsg"]
    assert [r["properties"]["sourceAddressPrefix"] for r in nsg["properties"]["securityRules"]] == ["198.51.100.0/24"]
    assert provider.wait_ready(vm, 30).address == fake.vms.address(vm.id)
    [listed] = provider.list_vms()
    assert provider.shell_command(listed)[-1] == f"azureuser@{fake.vms.address(vm.id)}"  # lithops attach
    provider.delete([vm])
    with pytest.raises(BackendError, match="cannot be read"):
        AzureVMs({**_section(config), "ssh_key_filename": "/nonexistent/key"}, "lithops-workers").create(1)
    config["azure_vms"]["ssh_allowed_cidr"] = "everyone"
    with pytest.raises(ConfigError, match="ssh_allowed_cidr"):
        lithops.FunctionExecutor(config=config, log_level=None)


def test_consume_mode_installs_the_agent_over_ssh(config: dict[str, Any], fake: FakeCompute, network: Any) -> None:
    """The user's own VM (made without Lithops's customData) gets the agent over SSH, then runs calls."""
    [vm] = AzureVMs({**_section(config), "ssh_key_filename": network.client_key}, "users-own").create(1)
    config["azure_vms"].update(exec_mode="consume", instance_name=vm.id, ssh_username="root",
                               ssh_key_filename=network.client_key)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(_cube, [1, 2, 3]).get_result() == [1, 8, 27]
    assert fake.power[next(k for k, r in fake.resources.items() if r["name"] == vm.id)] == "running"  # kept
    config["azure_vms"]["instance_name"] = "missing-vm"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="VM missing-vm does not exist in resource group lithops-rg"):
            fexec.call_async(_cube, 1)


def test_created_vms_need_azure_storage_for_the_code(config: dict[str, Any], tmp_path: Any,
                                                     fake: FakeCompute) -> None:
    config["lithops"]["storage"] = "localhost"
    config["localhost"] = {"storage_root": str(tmp_path / "storage")}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="use storage azure_storage"):
            fexec.call_async(_cube, 1)
    assert _kinds(fake) == []  # refused before any VM was made


@pytest.fixture(scope="class")
def contract_fake(network: Any) -> Iterator[FakeCompute]:
    """One Resource Manager for the whole contract class."""
    arm = FakeCompute(network, polls=0).start()
    try:
        yield arm
    finally:
        arm.close()


class TestAzureVMsCompute(ComputeContract):
    """The compute contract through azure_vms: a reuse-mode cluster of two VMs (namespace hosts) booted from
    customData by the first executor and kept warm for the others.
    """

    call_timeout = 150.0

    @pytest.fixture
    def config(self, contract_fake: FakeCompute, gateway_azurite: Azurite, tmp_path_factory: Any) -> dict[str, Any]:
        config = _config(contract_fake, gateway_azurite,
                         str(tmp_path_factory.getbasetemp() / "azure-vms-contract-install"),
                         "lithops-vms-contract", exec_mode="reuse", soft_dismantle_timeout=600)
        return config
