"""aws_ec2 end to end: the control plane is moto's EC2 server behind a layer that refuses what EC2 refuses
(strict_ec2.py), and the instances it "creates" are network-namespace hosts that boot with the instance's user
data, as cloud-init would run it: the kernel's real bootstrap downloads the code from a pre-signed S3 URL, asks the
metadata service for the instance id and starts the agent, which works through moto's S3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import boto3
import pytest

import lithops
from conftest import make_bucket
from lithops.errors import BackendError, ConfigError
from lithops.testing import ComputeContract
from lithops_aws.aws_ec2.provider import ROLE_NAME, SECURITY_GROUP, EC2VMs

netns = pytest.importorskip("lithops_vm.testing.netns")
vm_fixtures = pytest.importorskip("lithops_vm.testing.fixtures")
from strict_ec2 import EC2Fleet  # noqa: E402


def _cube(x: int) -> int:
    return x ** 3


network = vm_fixtures.namespace_hosts("EC2 instances")


@pytest.fixture
def fleet(moto: Any, network: Any) -> Any:
    """The strict EC2 layer in front of a fresh moto, its instances played by the namespace hosts."""
    layer = EC2Fleet(moto.url, network).start()
    try:
        yield layer
    finally:
        layer.close()


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


@pytest.fixture
def config(fleet: EC2Fleet, tmp_path: Any) -> dict[str, Any]:
    """aws_ec2 in create mode on two VMs; every endpoint is the layer. The VMs' runtime is this Python (it has
    boto3, so nothing is installed from a package index), their install folder a fresh one.
    """
    bucket = f"lithops-ec2-{uuid.uuid4().hex[:8]}"
    make_bucket(fleet.url, bucket)
    ami = _client("ec2", fleet.url).describe_images()["Images"][0]["ImageId"]
    return {
        "lithops": {"backend": "aws_ec2", "storage": "aws_s3", "monitoring_interval": 0.1},
        "aws": {"region": "us-east-1"},
        "aws_ec2": {"endpoint": fleet.url, "target_ami": ami, "exec_mode": "create", "max_workers": 2,
                    "worker_instance_type": "t3.large", "worker_processes": 2, "runtime": sys.executable,
                    "install_dir": str(tmp_path / "vm-install"), "start_timeout": 60,
                    "soft_dismantle_timeout": 120},
        "aws_s3": {"endpoint": fleet.url, "storage_bucket": bucket},
    }


def _instances(ec2: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return [i for r in ec2.describe_instances(**kwargs)["Reservations"] for i in r["Instances"]]


def _heartbeat(fexec: Any, instance: str) -> dict[str, Any]:
    storage = fexec.storage
    return dict(json.loads(storage.get_object(storage.bucket, f"lithops.standalone/lithops-workers/{instance}/"
                                                              f"agent.json")))


def test_create_mode_boots_the_agent_from_user_data_and_terminates_the_vms(config: dict[str, Any],
                                                                          fleet: EC2Fleet) -> None:
    ec2 = _client("ec2", fleet.url)
    config["aws"].update(access_key_id="CLIENTKEYID", secret_access_key="client-secret")  # never in user data
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.mode == "standalone"
        assert fexec.map(_cube, range(8)).get_result() == [x ** 3 for x in range(8)]
        instances = sorted(fleet.hosts)
        assert len(instances) == 2, fleet.requests.get("RunInstances")
        for instance in instances:
            beat = _heartbeat(fexec, instance)
            assert beat["worker_processes"] == 2 and beat["python_version"] == "{}.{}".format(*sys.version_info[:2])
            assert fleet.boots[instance] == [0], fleet.log(instance)
        found = _instances(ec2, InstanceIds=instances)
        assert {i["InstanceType"] for i in found} == {"t3.large"}
        assert found[0]["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{ROLE_NAME}")
        assert "169.254.169.254" in fleet.user_data[instances[0]]
        with open(f"{config['aws_ec2']['install_dir']}/agents/{instances[0]}/config.json", encoding="utf-8") as f:
            agent_config = f.read()  # written by the user data
        assert "client-secret" not in agent_config and "CLIENTKEYID" not in agent_config
        assert instances[0] in agent_config  # the id from the metadata service took the placeholder's place
    states = {i["State"]["Name"] for i in _instances(ec2, InstanceIds=instances)}
    assert states <= {"shutting-down", "terminated"}


def test_a_vm_whose_python_differs_fails_the_job_naming_both_versions(config: dict[str, Any], fleet: EC2Fleet,
                                                                     tmp_path: Any) -> None:
    """The image's Python is 3.12 and the client's 3.11: nobody reads user data's exit code, so the agent starts
    anyway and reports the mismatch in its heartbeat; the job fails at once with both versions, not at start_timeout.
    """
    runtime = vm_fixtures.other_python_runtime(tmp_path)  # with this one's pure-Python boto3 to report through S3
    config["aws_ec2"].update(max_workers=1, runtime=runtime, start_timeout=120)
    started = time.monotonic()
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"runs Python 3\.\d+ but the client runs Python 3\.\d+") as caught:
            fexec.call_async(_cube, 1)
    assert "{}.{}".format(*sys.version_info[:2]) in str(caught.value)
    assert time.monotonic() - started < 100


def test_run_instances_waits_for_a_new_instance_profile(fleet: EC2Fleet, config: dict[str, Any]) -> None:
    """IAM's new profile is unknown to EC2 for a few seconds: RunInstances is tried again, not given up."""
    section = {**config["aws_ec2"], "region": "us-east-1"}
    provider = EC2VMs(section, "lithops-workers")
    [vm] = provider.create(1)
    assert any("Invalid IAM Instance Profile name" in r for r in fleet.refused)
    assert vm.state in ("pending", "running")
    provider.delete([vm])


def test_start_waits_for_vms_that_are_still_stopping(fleet: EC2Fleet, config: dict[str, Any]) -> None:
    """reuse mode: a VM just stopped underneath (its agent killed, its last heartbeat left in the bucket) is
    started once stopped, never while stopping, and used once its new agent beats, however long the boot takes.
    """
    config["aws_ec2"].update(exec_mode="reuse", max_workers=1)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 2).result(timeout=60) == 8
    [instance] = fleet.hosts
    ec2 = _client("ec2", fleet.url)
    ec2.stop_instances(InstanceIds=[instance])
    assert _instances(ec2, InstanceIds=[instance])[0]["State"]["Name"] == "stopping"
    fleet.boot_delay = 10.0  # longer than the 8 s after which a silent agent is taken for dead
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 3).result(timeout=60) == 27
    assert list(fleet.hosts) == [instance]  # the same VM, started again, not a new one
    assert not [r for r in fleet.refused if r.startswith("IncorrectInstanceState")]
    assert len(fleet.boots[instance]) == 2


def test_reuse_mode_never_takes_a_vm_of_a_create_mode_executor(fleet: EC2Fleet, config: dict[str, Any]) -> None:
    """A create-mode executor's VM is terminated when that executor closes: a reuse executor makes its own."""
    fleet.profile_delay = 0
    section = {**config["aws_ec2"], "region": "us-east-1"}
    [other] = EC2VMs(section, "lithops-workers").create(1, tags={"lithops_exec_mode": "create"})
    config["aws_ec2"].update(exec_mode="reuse", max_workers=1)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 5).result(timeout=60) == 125
    assert len(fleet.hosts) == 2 and other.id in fleet.hosts and other.id not in fleet.boots


def test_spot_vms(fleet: EC2Fleet, config: dict[str, Any]) -> None:
    fleet.profile_delay = 0
    provider = EC2VMs({**config["aws_ec2"], "region": "us-east-1"}, "lithops-workers")
    [vm] = provider.create(1, spot=True)
    [run] = fleet.requests["RunInstances"]
    assert run["InstanceMarketOptions.MarketType"] == ["spot"]
    assert run["InstanceInitiatedShutdownBehavior"] == ["terminate"]  # EC2 refuses stop for one-time spot VMs
    assert [v.spot for v in provider.list_vms() if v.id == vm.id] == [True]
    provider.delete([vm])


def test_port_22_is_opened_only_to_ssh_allowed_cidr(fleet: EC2Fleet, config: dict[str, Any]) -> None:
    ec2 = _client("ec2", fleet.url)
    section = {**config["aws_ec2"], "region": "us-east-1"}
    fleet.profile_delay = 0

    def ingress() -> list[Any]:
        [group] = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [SECURITY_GROUP]}])[
            "SecurityGroups"]
        return [(p.get("FromPort"), r["CidrIp"]) for p in group["IpPermissions"] for r in p.get("IpRanges", [])]

    provider = EC2VMs(section, "lithops-workers")
    provider.delete(provider.create(1))
    assert ingress() == []  # the agent needs no inbound port
    provider = EC2VMs({**section, "ssh_allowed_cidr": "198.51.100.0/24"}, "lithops-workers")
    provider.delete(provider.create(1))
    assert ingress() == [(22, "198.51.100.0/24")]
    with pytest.raises(BackendError, match="to a subnet of that VPC"):
        EC2VMs({**section, "vpc_id": "vpc-12345678"}, "lithops-workers").create(1)
    config["aws_ec2"]["ssh_allowed_cidr"] = "everyone"
    with pytest.raises(ConfigError, match="ssh_allowed_cidr"):
        lithops.FunctionExecutor(config=config, log_level=None)


def test_consume_mode_installs_the_agent_over_ssh(fleet: EC2Fleet, config: dict[str, Any], network: Any,
                                                  tmp_path: Any) -> None:
    """The user's own VM (made without Lithops's user data) gets the agent over SSH, then runs calls."""
    ec2 = _client("ec2", fleet.url)
    [made] = ec2.run_instances(ImageId=config["aws_ec2"]["target_ami"], MinCount=1, MaxCount=1)["Instances"]
    instance = made["InstanceId"]
    config["aws_ec2"].update(exec_mode="consume", instance_id=instance, ssh_username="root",
                             ssh_key_filename=network.client_key)
    config["aws"].update(access_key_id="testing", secret_access_key="testing")  # the VM has no instance role
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(_cube, [1, 2, 3]).get_result() == [1, 8, 27]
        beat = _heartbeat(fexec, instance)
        assert beat["worker_processes"] == 2
    assert _instances(ec2, InstanceIds=[instance])[0]["State"]["Name"] == "running"  # the user's VM is kept
    # 'lithops clean --all' gives the user's VM back: the agent stops and its folder goes, the VM stays
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps(config))  # YAML reads JSON
    cleaned = subprocess.run([sys.executable, "-c", "from lithops.cli.main import main; main()", "clean", "--all"],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "LITHOPS_CONFIG_FILE": str(config_file)})
    assert cleaned.returncode == 0, cleaned.stderr
    assert "Gave back 1 VM(s) of backend aws_ec2, which Lithops did not make" in cleaned.stdout
    assert cleaned.stdout.rstrip().count(instance) == 1
    assert _instances(ec2, InstanceIds=[instance])[0]["State"]["Name"] == "running"
    assert not os.path.exists(f"{config['aws_ec2']['install_dir']}/agents/{instance}")
    assert not netns.process_alive(beat["pid"])


def test_lithops_key_names_and_the_standalone_section(fleet: EC2Fleet, config: dict[str, Any], moto: Any) -> None:
    """instance_role, ssh_key_name, public_subnet_id (Lithops 3.x names) and the standalone: section reach EC2
    and the agent.
    """
    iam = _client("iam", moto.url)  # made long ago, as far as the layer knows: usable at once
    iam.create_instance_profile(InstanceProfileName="my-profile")
    ec2 = _client("ec2", fleet.url)
    ec2.create_key_pair(KeyName="my-key")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    config["aws_ec2"].update(max_workers=1, instance_role="my-profile", ssh_key_name="my-key",
                             public_subnet_id=subnet)
    del config["aws_ec2"]["worker_processes"], config["aws_ec2"]["soft_dismantle_timeout"]
    config["standalone"] = {"worker_processes": 3, "soft_dismantle_timeout": 77}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 4).result(timeout=60) == 64
        [instance] = fleet.hosts
        beat = _heartbeat(fexec, instance)
        assert beat["worker_processes"] == 3
    [run] = fleet.requests["RunInstances"]
    assert run["IamInstanceProfile.Name"] == ["my-profile"] and run["KeyName"] == ["my-key"]
    assert run["NetworkInterface.1.SubnetId"] == [subnet]
    with open(f"{config['aws_ec2']['install_dir']}/agents/{instance}/config.json", encoding="utf-8") as f:
        assert json.load(f)["soft_dismantle_timeout"] == 77


def test_consume_mode_needs_an_existing_instance(config: dict[str, Any]) -> None:
    config["aws_ec2"].update(exec_mode="consume", instance_id="i-0123456789abcdef0")
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="i-0123456789abcdef0 does not exist in region us-east-1"):
            fexec.call_async(_cube, 1)
    config["aws_ec2"]["instance_id"] = None
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="instance_id is not set"):
            fexec.call_async(_cube, 1)


def test_created_vms_need_s3_storage_for_the_code(config: dict[str, Any], tmp_path: Any, fleet: EC2Fleet) -> None:
    config["lithops"]["storage"] = "localhost"
    config["localhost"] = {"storage_root": str(tmp_path / "storage")}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="use storage aws_s3"):
            fexec.call_async(_cube, 1)
    assert "RunInstances" not in fleet.requests  # refused before any VM was made


@pytest.fixture(scope="class")
def contract_fleet(moto_session: Any, network: Any) -> Any:
    """One fleet for the whole contract class; moto is reset once, at its start."""
    moto_session.reset()
    layer = EC2Fleet(moto_session.url, network, profile_delay=0).start()
    try:
        yield layer
    finally:
        layer.close()


class TestEC2Compute(ComputeContract):
    """The compute contract through aws_ec2: a reuse-mode cluster of two VMs (namespace hosts) booted from user
    data by the first executor and kept warm for the others.
    """

    # every S3 request of the workers goes through the EC2 layer to moto, on a machine the tests share: 300 calls
    # take about a minute there (150 s stays under the tests' 180 s pytest timeout)
    call_timeout = 150.0

    @pytest.fixture
    def config(self, contract_fleet: EC2Fleet, tmp_path_factory: Any) -> dict[str, Any]:
        ec2 = _client("ec2", contract_fleet.url)
        bucket = "lithops-ec2-contract"
        if bucket not in [b["Name"] for b in _client("s3", contract_fleet.url).list_buckets()["Buckets"]]:
            make_bucket(contract_fleet.url, bucket)
        return {
            "lithops": {"backend": "aws_ec2", "storage": "aws_s3"},
            "aws": {"region": "us-east-1"},
            "aws_ec2": {"endpoint": contract_fleet.url, "target_ami": ec2.describe_images()["Images"][0]["ImageId"],
                        "max_workers": 2, "worker_processes": 2, "runtime": sys.executable,
                        "install_dir": str(tmp_path_factory.getbasetemp() / "ec2-contract-install"),
                        "start_timeout": 60, "soft_dismantle_timeout": 600},
            "aws_s3": {"endpoint": contract_fleet.url, "storage_bucket": bucket},
        }
