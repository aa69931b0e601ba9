"""aws_ec2: control-plane calls against moto's server; the VMs' agent runs locally, as it would on each VM."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import uuid
from typing import Any

import boto3
import pytest

import lithops
from conftest import make_bucket
from lithops.errors import BackendError
from lithops_aws.aws_ec2.backend import ROLE_NAME, SECURITY_GROUP


@pytest.fixture(scope="module")
def moto() -> Any:
    """A moto server of this module's own."""
    from lithops_aws.testing.moto_server import MotoServer

    with MotoServer(subprocess=True) as server:
        yield server


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


@pytest.fixture
def config(moto: Any) -> dict[str, Any]:
    bucket = f"lithops-ec2-{uuid.uuid4().hex[:8]}"
    make_bucket(moto.url, bucket)
    ami = _client("ec2", moto.url).describe_images()["Images"][0]["ImageId"]
    return {
        "lithops": {"backend": "aws_ec2", "storage": "aws_s3", "monitoring_interval": 0.1},
        "aws": {"region": "us-east-1"},
        "aws_ec2": {"endpoint": moto.url, "target_ami": ami, "exec_mode": "create", "max_workers": 2,
                    "worker_instance_type": "t3.large", "worker_processes": 2, "runtime": "numpy==2.1.0"},
        "aws_s3": {"endpoint": moto.url, "storage_bucket": bucket},
    }


def _agent_config(moto_url: str, instance: str) -> str:
    user_data = _client("ec2", moto_url).describe_instance_attribute(InstanceId=instance, Attribute="userData")
    script = base64.b64decode(user_data["UserData"]["Value"]).decode()
    match = re.search(r"<<'LITHOPS_CONFIG'\n(.*?)\nLITHOPS_CONFIG", script, re.S)
    assert match, script
    return base64.b64decode(match.group(1)).decode()


def _run_agent(moto_url: str, instance: str) -> subprocess.CompletedProcess[bytes]:
    """Do what the VM does after boot: run the agent service with the config from its user data."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PATH", "HOME"))}
    env.update(LITHOPS_AGENT_CONFIG=_agent_config(moto_url, instance), LITHOPS_INSTANCE_ID=instance,
               LITHOPS_AGENT_NO_SHUTDOWN="1", LITHOPS_AGENT_POLL_INTERVAL="0.1",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    config = __import__("json").loads(env["LITHOPS_AGENT_CONFIG"])
    config["soft_dismantle_timeout"] = 1
    env["LITHOPS_AGENT_CONFIG"] = __import__("json").dumps(config)
    return subprocess.run([sys.executable, "-m", "lithops_aws.aws_ec2.agent"], env=env, capture_output=True,
                          timeout=120)


def _cube(x: int) -> int:
    return x ** 3


def _die(x: int) -> None:
    os._exit(3)


def test_create_mode_runs_calls_on_the_vms_and_dismantles_them(config: dict[str, Any], moto: Any) -> None:
    ec2 = _client("ec2", moto.url)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.mode == "standalone"
        futures = fexec.map(_cube, range(6))
        instances = fexec.compute.instances(fexec.executor_id)
        assert len(instances) == 2
        found = [i for r in ec2.describe_instances(InstanceIds=instances)["Reservations"] for i in r["Instances"]]
        assert {i["InstanceType"] for i in found} == {"t3.large"}
        tags = {t["Key"]: t["Value"] for t in found[0]["Tags"]}
        assert tags["lithops_cluster"] == f"executor-{fexec.executor_id}"
        assert found[0]["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{ROLE_NAME}")
        groups = ec2.describe_security_groups(GroupIds=[found[0]["SecurityGroups"][0]["GroupId"]])
        assert groups["SecurityGroups"][0]["GroupName"] == SECURITY_GROUP
        user_data = base64.b64decode(ec2.describe_instance_attribute(
            InstanceId=instances[0], Attribute="userData")["UserData"]["Value"]).decode()
        assert "systemctl enable --now lithops-agent.service" in user_data and "'numpy==2.1.0'" in user_data
        for instance in instances:
            proc = _run_agent(moto.url, instance)
            assert proc.returncode == 0, proc.stderr.decode()
        assert fexec.get_result(futures) == [x ** 3 for x in range(6)]
        died = fexec.call_async(_die, 1)
        for instance in instances:
            _run_agent(moto.url, instance)
        with pytest.raises(lithops.errors.WorkerDiedError, match="exited with code 3"):
            died.result(timeout=30)
    states = {i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=instances)["Reservations"]
              for i in r["Instances"]}
    assert states <= {"shutting-down", "terminated"}


def test_reuse_mode_starts_stopped_vms(config: dict[str, Any], moto: Any) -> None:
    config["aws_ec2"].update(exec_mode="reuse", max_workers=1)
    ec2 = _client("ec2", moto.url)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_cube, [1])
        [instance] = fexec.compute.instances(fexec.executor_id)
        _run_agent(moto.url, instance)
        assert fexec.get_result(futures) == [1]
    ec2.stop_instances(InstanceIds=[instance])  # the agent powered it off when idle
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        future = fexec.call_async(_cube, 2)
        assert fexec.compute.instances(fexec.executor_id) == [instance]  # the same VM, not a new one
        state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
        assert state in ("pending", "running")
        _run_agent(moto.url, instance)
        assert future.result(timeout=30) == 8
    assert ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"] in (
        "pending", "running")  # reuse mode leaves it to the agent's idle timeout


def test_consume_mode_needs_an_existing_instance(config: dict[str, Any]) -> None:
    config["aws_ec2"].update(exec_mode="consume", instance_id="i-0123456789abcdef0")
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="i-0123456789abcdef0 does not exist in region us-east-1"):
            fexec.call_async(_cube, 1)
