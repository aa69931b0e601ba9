"""ibm_vpc end to end: the control plane is the local VPC API (lithops_ibm.testing.vpc) behind the local IAM, and
the instances it "creates" are network-namespace hosts that boot with the instance's user data, as cloud-init
would run it: the kernel's real bootstrap downloads the code from a pre-signed COS URL (moto, through a relay on the
hosts' bridge), asks IBM's metadata service for the instance id and starts the agent, which reaches COS at its
private endpoint (a bearer-token check in front of moto) with IAM tokens of the VM's trusted profile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from ibm_cloud_sdk_core import ApiException

import lithops
from conftest import API_KEY, HMAC, hmac_section, new_bucket
from lithops.cli.standalone import standalone_backend
from lithops.config import default_config
from lithops.errors import BackendError, ConfigError
from lithops.testing import ComputeContract
from lithops_ibm.cos.storage import COSStorage
from lithops_ibm.ibm_vpc.provider import SECURITY_GROUP, VPCVMs
from lithops_ibm.testing.cos_relay import BearerCOS
from lithops_ibm.testing.iam import FakeIAM

vm_fixtures = pytest.importorskip("lithops_vm.testing.fixtures")
from lithops_ibm.testing.vpc import FakeVPC  # noqa: E402

PROFILE = "tp-lithops-workers"


def _cube(x: int) -> int:
    return x ** 3


network = vm_fixtures.namespace_hosts("VPC instances")


@pytest.fixture(scope="module")
def cos(network: Any, moto: Any, iam: FakeIAM) -> Iterator[tuple[str, str]]:
    """COS's public endpoint (HMAC signatures and pre-signed URLs) and private endpoint (IAM tokens) on the hosts'
    bridge, both moto underneath.
    """
    public = BearerCOS(None, moto.url, network.gateway)
    private = BearerCOS(iam, moto.url, network.gateway, hmac=True)
    with public, private:
        yield public.url, private.url


@pytest.fixture
def vpc(iam: FakeIAM, network: Any) -> Iterator[FakeVPC]:
    """A fresh VPC API whose instances are the namespace hosts; it knows the trusted profile PROFILE."""
    with FakeVPC(iam, network) as service:
        assert isinstance(service, FakeVPC)
        service.trusted_profiles.add(PROFILE)
        yield service


def _config(iam: FakeIAM, vpc: FakeVPC, cos: tuple[str, str], install_dir: str, bucket: str | None = None,
            **section: Any) -> dict[str, Any]:
    if bucket is None:
        bucket = new_bucket()
        COSStorage(hmac_section(cos[0])).create_bucket(bucket)
    return {
        "lithops": {"backend": "ibm_vpc", "storage": "ibm_cos", "monitoring_interval": 0.1},
        "ibm": {"iam_api_key": API_KEY, "iam_endpoint": iam.url, "region": "us-south"},
        "ibm_vpc": {"endpoint": f"{vpc.url}/v1", "exec_mode": "create", "max_workers": 2, "worker_processes": 2,
                    "runtime": sys.executable, "install_dir": install_dir, "start_timeout": 60,
                    "soft_dismantle_timeout": 120, "trusted_profile_id": PROFILE, **section},
        "ibm_cos": hmac_section(cos[0], storage_bucket=bucket, private_endpoint=cos[1]),
    }


@pytest.fixture
def config(iam: FakeIAM, vpc: FakeVPC, cos: tuple[str, str], tmp_path: Any) -> dict[str, Any]:
    """ibm_vpc in create mode on two VMs. The VMs' runtime is this Python (it has the SDKs, so nothing is installed
    from a package index), their install folder a fresh one.
    """
    return _config(iam, vpc, cos, str(tmp_path / "vm-install"))


def _provider(config: dict[str, Any], **keys: Any) -> VPCVMs:
    return VPCVMs({**config["ibm"], **config["ibm_vpc"], **keys}, "lithops-workers")


def test_create_mode_makes_the_network_boots_the_agent_from_user_data_and_deletes_the_vms(
        config: dict[str, Any], vpc: FakeVPC) -> None:
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.mode == "standalone"
        assert fexec.map(_cube, range(8)).get_result() == [x ** 3 for x in range(8)]
        instances = sorted(vpc.hosts)
        assert len(instances) == 2
        for instance in instances:
            assert vpc.boots[instance] == [0], vpc.log(instance)
            assert "169.254.169.254" in vpc.user_data[instance]
            assert HMAC["secret_access_key"] not in vpc.user_data[instance]  # (the key id is in the signed URL)
        with open(f"{config['ibm_vpc']['install_dir']}/agents/{instances[0]}/config.json", encoding="utf-8") as f:
            agent = json.load(f)  # written by the user data, with the id from the metadata service
        assert HMAC["access_key_id"] not in json.dumps(agent) and API_KEY not in json.dumps(agent)
        assert agent["vm_id"] == instances[0]
        assert agent["storage"]["config"]["instance_identity"] is True
        assert agent["storage"]["config"]["endpoint"] == config["ibm_cos"]["private_endpoint"]
    assert not vpc.instances and not vpc.floating_ips  # deleted with the executor; no floating IP was needed
    [made] = vpc.vpcs.values()
    assert made["name"] == "lithops-vpc"
    [subnet] = vpc.subnets.values()
    assert subnet["zone"]["name"] == "us-south-1" and subnet["public_gateway"]["name"] == "lithops-gateway-us-south-1"
    assert SECURITY_GROUP in [g["name"] for g in vpc.security_groups.values()]
    body = vpc.created[0]
    assert body["profile"] == {"name": "cx2-2x4"} and body["metadata_service"] == {"enabled": True}
    assert body["default_trusted_profile"]["target"] == {"id": PROFILE}
    assert vpc.images[body["image"]["id"]]["name"].startswith(
        {"3.10": "ibm-ubuntu-22-04", "3.11": "ibm-debian-12", "3.12": "ibm-ubuntu-24-04"}["{}.{}".format(
            *sys.version_info[:2])])


def test_a_vm_whose_python_differs_fails_the_job_naming_both_versions(config: dict[str, Any], vpc: FakeVPC,
                                                                     tmp_path: Any) -> None:
    """The image's Python is another version than the client's: the agent reports it through COS (with the VM's
    trusted profile) and the job fails at once with both versions, not at start_timeout.
    """
    client = "{}.{}".format(*sys.version_info[:2])
    runtime = vm_fixtures.other_python_runtime(tmp_path)  # with this one's pure-Python SDKs to report through COS
    config["ibm_vpc"].update(max_workers=1, runtime=runtime, start_timeout=120)
    started = time.monotonic()
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"runs Python 3\.\d+ but the client runs Python 3\.\d+") as caught:
            fexec.call_async(_cube, 1)
    assert client in str(caught.value) and time.monotonic() - started < 100


def _lithops_cli(config: dict[str, Any], folder: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``lithops`` command with ``config`` as its config file."""
    config_file = folder / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-c", "from lithops.cli.main import main; main()", *args], text=True,
                          capture_output=True, timeout=60, env={**os.environ, "LITHOPS_CONFIG_FILE": str(config_file)})


def test_reuse_mode_starts_the_same_vm_again_once_it_has_stopped(config: dict[str, Any], vpc: FakeVPC,
                                                                 network: Any, tmp_path: Any) -> None:
    """A VM stopped underneath is started once stopped (never while stopping) and used again, not re-created;
    the network made the first time is found, not made again. `lithops worker list`, `attach` (from a machine of
    the VPC: no floating IP) and `clean --all` see the cluster's VMs.
    """
    provider = _provider(config)
    # another executor's create-mode VM: deleted when that executor closes, so never reused
    [other] = provider.create(1, tags={"lithops_exec_mode": "create"})
    config["ibm_vpc"].update(exec_mode="reuse", max_workers=1)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 2).result(timeout=60) == 8
    [instance] = [i for i in vpc.hosts if i != other.id]
    [vm] = [v for v in provider.list_vms() if v.id != other.id]
    assert vm.id == instance and vm.extra["lithops_exec_mode"] == "reuse" and vm.state == "running"
    provider.stop([vm])
    assert provider._vm(provider._get(vm.id)).state == "stopping"
    with pytest.raises(ApiException, match="The start action cannot be performed on an instance in the stopping"):
        provider.vpc.create_instance_action(instance, "start")
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 3).result(timeout=60) == 27
    assert sorted(vpc.hosts) == sorted([instance, other.id]) and len(vpc.boots[instance]) == 2
    assert len([r for r in vpc.refused if r.startswith("instance_action_invalid")]) == 1  # only the one above
    assert len(vpc.vpcs) == 1 and len(vpc.subnets) == 1 and len(vpc.gateways) == 1
    config["ibm_vpc"]["ssh_key_filename"] = network.client_key
    listed = _lithops_cli(config, tmp_path, "worker", "list")
    assert listed.returncode == 0 and vm.name in listed.stdout and "2 VM(s) of backend ibm_vpc" in listed.stdout, \
        listed.stdout + listed.stderr
    attached = _lithops_cli(config, tmp_path, "attach", vm.name, "--command", "ip -o -4 addr show eth0")
    assert attached.returncode == 0 and vpc.vms.address(instance) in attached.stdout, attached.stderr
    cleaned = _lithops_cli(config, tmp_path, "clean", "--all")
    assert cleaned.returncode == 0 and "Removed 2 VM(s) of backend ibm_vpc" in cleaned.stdout, cleaned.stderr
    assert not vpc.instances


def test_an_idle_vm_powers_off_and_the_next_executor_starts_it_again(config: dict[str, Any], vpc: FakeVPC) -> None:
    """reuse mode: after soft_dismantle_timeout idle seconds the agent powers the VM off, the VPC API reports it
    stopped, and the next executor starts the same VM, whose per-boot script starts the agent again.
    """
    config["ibm_vpc"].update(exec_mode="reuse", max_workers=1, soft_dismantle_timeout=2)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 4).result(timeout=60) == 64
    [instance] = vpc.hosts
    provider = _provider(config)
    deadline = time.monotonic() + 60
    while provider.list_vms()[0].state != "stopped":
        assert time.monotonic() < deadline, vpc.log(instance)
        time.sleep(0.5)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 5).result(timeout=60) == 125
    assert list(vpc.hosts) == [instance] and vpc.boots[instance] == [0, 0]
    provider.delete(provider.list_vms())


def test_lithops_key_names_reach_the_vpc_api(config: dict[str, Any], vpc: FakeVPC) -> None:
    """vpc_id, subnet_id, security_group_id, gateway_id, ssh_key_id, image_id, worker_profile_name, zone and
    resource_group_id (Lithops 3.x's names) are what the VMs are made with; nothing else is created.
    """
    mine = _provider(config, vpc_name="my-vpc", zone="us-south-2", resource_group_id="other-rg-0002").network()
    assert vpc.vpcs[mine["vpc"]]["resource_group"] == {"id": "other-rg-0002"}
    gateway = vpc.subnets[mine["subnet"]]["public_gateway"]["id"]
    vpc.keys["r006-my-key"] = {"id": "r006-my-key", "name": "my-key", "href": "/v1/keys/r006-my-key"}
    counts = (len(vpc.vpcs), len(vpc.subnets), len(vpc.gateways), len(vpc.security_groups))
    provider = _provider(config, vpc_id=mine["vpc"], subnet_id=mine["subnet"], security_group_id=mine["security_group"],
                         gateway_id=gateway, ssh_key_id="r006-my-key", image_id="r006-debian-12",
                         worker_profile_name="bx2-2x8", resource_group_id="other-rg-0002")
    [vm] = provider.create(1)
    body = vpc.created[-1]
    assert body["vpc"] == {"id": mine["vpc"]} and body["zone"] == {"name": "us-south-2"}
    assert body["primary_network_interface"]["subnet"] == {"id": mine["subnet"]}
    assert body["primary_network_interface"]["security_groups"] == [{"id": mine["security_group"]}]
    assert body["keys"] == [{"id": "r006-my-key"}] and body["image"] == {"id": "r006-debian-12"}
    assert body["profile"] == {"name": "bx2-2x8"} and body["resource_group"] == {"id": "other-rg-0002"}
    assert (len(vpc.vpcs), len(vpc.subnets), len(vpc.gateways), len(vpc.security_groups)) == counts
    assert [v.id for v in provider.list_vms()] == [vm.id]
    provider.delete([vm])
    with pytest.raises(BackendError, match="key_not_found"):
        _provider(config, vpc_id=mine["vpc"], ssh_key_id="r006-no-such-key").create(1)


def test_the_vpc_api_refusals_reach_the_user_with_ibms_message(config: dict[str, Any], vpc: FakeVPC) -> None:
    with pytest.raises(BackendError, match="instance_profile_not_found: Instance profile 'zz-9x99' not found"):
        _provider(config, worker_profile_name="zz-9x99").create(1)
    with pytest.raises(BackendError, match="image_not_found"):
        _provider(config, image_id="r006-no-such-image").create(1)
    with pytest.raises(BackendError, match="Zone 'us-south-9' not found in region us-south"):
        _provider(config, zone="us-south-9").create(1)
    with pytest.raises(BackendError, match="Resource group with id 'no-such-group' was not found"):
        _provider(config, vpc_name="other-vpc", resource_group_id="no-such-group").create(1)
    vpc.vcpu_quota = 3
    with pytest.raises(BackendError, match="over_quota: Quota exceeded: the instance needs 4 vCPUs"):
        _provider(config, worker_profile_name="cx2-4x8").create(1)
    assert not vpc.instances


def test_missing_credentials_a_refused_key_and_an_api_that_is_down_are_clear_errors(config: dict[str, Any],
                                                                                   vpc: FakeVPC) -> None:
    with pytest.raises(ConfigError, match="IAM refused the API key"):
        _provider(config, iam_api_key="revoked-key").list_vms()
    with pytest.raises(BackendError, match=r"could not connect to http://127\.0\.0\.1:9/v1"):
        _provider(config, endpoint="http://127.0.0.1:9/v1").list_vms()
    config["ibm"]["iam_api_key"] = None
    with pytest.raises(ConfigError, match="needs iam_api_key"):
        lithops.FunctionExecutor(config=config, log_level=None)


def test_no_capacity_left_is_the_vpc_apis_error(config: dict[str, Any], vpc: FakeVPC) -> None:
    """Three hosts play VMs: a fourth VM is refused for capacity; a request of which some VMs were made returns
    those.
    """
    provider = _provider(config)
    made = provider.create(4)
    assert len(made) == 3 and vpc.refused[-1].startswith("insufficient_capacity")
    assert sorted(v.id for v in provider.list_vms()) == sorted(v.id for v in made)  # two pages of the listing
    with pytest.raises(BackendError, match="Insufficient capacity for profile cx2-2x4 in zone us-south-1"):
        provider.create(1)
    provider.delete(made)
    assert not vpc.instances


def test_created_vms_need_a_trusted_profile_and_hmac_keys(config: dict[str, Any], vpc: FakeVPC, iam: FakeIAM,
                                                          cos: tuple[str, str]) -> None:
    """Without a trusted profile the VMs could reach COS only with the client's keys in their user data; without
    HMAC keys COS cannot pre-sign the code's URL: both refused before any VM is made, with the fix.
    """
    config["ibm_vpc"]["trusted_profile_id"] = None
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"set ibm_vpc\.trusted_profile_id"):
            fexec.call_async(_cube, 1)
    config["ibm_vpc"]["trusted_profile_id"] = PROFILE
    config["ibm_cos"] = {"endpoint": cos[1], "region": "us-south", "api_key": API_KEY, "iam_endpoint": iam.url,
                         "storage_bucket": config["ibm_cos"]["storage_bucket"]}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="COS pre-signs URLs only with HMAC keys"):
            fexec.call_async(_cube, 1)
    assert not vpc.created


def test_created_vms_need_cos_storage_for_the_code(config: dict[str, Any], vpc: FakeVPC, cos: tuple[str, str]) -> None:
    config["lithops"]["storage"] = "aws_s3"
    config["aws"] = {"region": "us-east-1", "access_key_id": "testing", "secret_access_key": "testing"}
    config["aws_s3"] = {"endpoint": cos[0], "storage_bucket": config["ibm_cos"]["storage_bucket"]}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="the storage backend is aws_s3: use storage ibm_cos"):
            fexec.call_async(_cube, 1)
    assert not vpc.created  # refused before any VM was made


def test_a_trusted_profile_without_cos_access_is_named_in_the_agents_log(config: dict[str, Any],
                                                                         vpc: FakeVPC) -> None:
    vpc.profiles_without_cos.add(PROFILE)
    config["ibm_vpc"].update(max_workers=1, start_timeout=15)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"did not start within 15 s \(start_timeout\)"):
            fexec.call_async(_cube, 1)
        [instance] = vpc.hosts
        with open(f"{config['ibm_vpc']['install_dir']}/agents/{instance}/agent.log", encoding="utf-8") as f:
            log = f.read()
    assert "COS refused the request" in log and "give the VM's trusted profile" in log, log[-2000:]


def test_a_vm_that_never_runs_fails_within_start_timeout(config: dict[str, Any], vpc: FakeVPC) -> None:
    vpc.transition = 3600
    provider = _provider(config)
    [vm] = provider.create(1)
    with pytest.raises(BackendError, match=rf"VM {vm.name} is still pending after 2 s \(start_timeout\)"):
        provider.wait_ready(vm, 2)
    provider.delete([vm])


def test_requests_need_version_generation_and_a_token(vpc: FakeVPC, iam: FakeIAM) -> None:
    token = iam.issue("someone")["access_token"]
    for query, code in (("", "missing_version"), ("?version=2025-04-08", "bad_generation"),
                        ("?version=2025-04-08&generation=2", None)):
        request = urllib.request.Request(f"{vpc.url}/v1/vpcs{query}", headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert code is None and json.load(resp)["vpcs"] == []
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
            assert exc.code == 400 and body["errors"][0]["code"] == code and "trace" in body
            assert {"code", "message", "more_info"} <= set(body["errors"][0])


def test_consume_mode_installs_the_agent_over_ssh_at_a_floating_ip(config: dict[str, Any], vpc: FakeVPC,
                                                                   network: Any) -> None:
    """The user's own VM (made without Lithops's user data) gets a floating IP to be reached at, then the agent
    over SSH; cleaning releases that floating IP and keeps the VM.
    """
    [made] = _provider(config).create(1, tags={"lithops_exec_mode": "reuse"})
    config["ibm_vpc"].update(exec_mode="consume", instance_id=made.id, ssh_key_filename=network.client_key,
                             trusted_profile_id=None)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(_cube, [1, 2, 3]).get_result() == [1, 8, 27]
        [fip] = vpc.floating_ips.values()
        assert fip["name"] == f"lithops-{made.name}" and fip["address"] == vpc.vms.address(made.id)
    backend = standalone_backend(default_config(config))  # what lithops clean --all does
    try:
        assert [vm.id for vm in backend.clean_all()] == [made.id]
    finally:
        backend.close()
    assert not vpc.floating_ips and made.id in vpc.instances
    config["ibm_vpc"]["instance_id"] = "0717-no-such-instance"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="VM 0717-no-such-instance does not exist in region us-south"):
            fexec.call_async(_cube, 1)


@pytest.fixture(scope="class")
def contract_vpc(iam: FakeIAM, network: Any) -> Iterator[FakeVPC]:
    """One VPC API for the whole contract class."""
    with FakeVPC(iam, network) as service:
        assert isinstance(service, FakeVPC)
        service.trusted_profiles.add(PROFILE)
        yield service


class TestVPCCompute(ComputeContract):
    """The compute contract through ibm_vpc: a reuse-mode cluster of two VMs (namespace hosts) booted from user
    data by the first executor and kept warm for the others.
    """

    call_timeout = 150.0

    @pytest.fixture
    def config(self, iam: FakeIAM, contract_vpc: FakeVPC, cos: tuple[str, str],
               tmp_path_factory: Any) -> dict[str, Any]:
        bucket = "lithops-vpc-contract"
        storage = COSStorage(hmac_section(cos[0]))
        try:
            storage.head_bucket(bucket)
        except Exception:
            storage.create_bucket(bucket)
        return _config(iam, contract_vpc, cos, str(tmp_path_factory.getbasetemp() / "vpc-contract-install"),
                       bucket=bucket, exec_mode="reuse", soft_dismantle_timeout=600)


def test_uuid_names_are_valid_vpc_names() -> None:
    from lithops_ibm.ibm_vpc.provider import vm_prefix

    assert vm_prefix("Lithops_Workers") == "lithops-workers-"
    assert vm_prefix("9lives") == "l9lives-"
    assert len(vm_prefix("x" * 100) + "create-" + uuid.uuid4().hex[:8]) <= 63
