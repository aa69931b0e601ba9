"""The ``aws_ec2`` compute backend (standalone mode, storage transport): worker VMs that poll storage for work.

Each VM runs an agent (:mod:`lithops_aws.aws_ec2.agent`) installed by its user data as a systemd service, with the
client's Lithops code downloaded from the storage bucket. The client hands each VM its worker payloads as objects
under ``lithops.standalone/<cluster>/<instance id>/queue/``; the agent runs them (``python -m lithops.worker``,
several at once) and workers write call statuses as usual. No SSH connection and no open port are needed. An idle
agent powers its VM off after ``soft_dismantle_timeout`` (stopped, or terminated for ``create`` mode VMs with
``delete_on_dismantle``).

``exec_mode``: ``consume`` uses ``instance_id`` as is (started if stopped); ``reuse`` keeps a cluster of
``max_workers`` VMs tagged ``lithops_cluster`` between executors; ``create`` makes VMs for one executor and
dismantles them when it closes.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_aws.aws_lambda.package import build_code_zip, code_digest
from lithops_aws.plugin import EC2_CONFIG
from lithops_aws.session import aws_errors, error_code, make_client, region_of

logger = logging.getLogger(__name__)

PREFIX = "lithops.standalone"
ROLE_NAME = "lithops-ec2-role"
SECURITY_GROUP = "lithops-sg"
#: Canonical's account, owner of the Ubuntu images.
UBUNTU_OWNER = "099720109477"
_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
     "Resource": "*"}]}

_USER_DATA = """#!/bin/bash
# Lithops worker VM: installs the agent as a service (runs at every boot).
set -e
export DEBIAN_FRONTEND=noninteractive
command -v pip3 >/dev/null || (apt-get update -y && apt-get install -y python3-pip)
mkdir -p /opt/lithops/code
cat > /opt/lithops/agent.json.b64 <<'LITHOPS_CONFIG'
{config}
LITHOPS_CONFIG
base64 -d /opt/lithops/agent.json.b64 > /opt/lithops/agent.json
python3 - <<'PY'
import io, urllib.request, zipfile
url = {code_url!r}
zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(url, timeout=300).read())).extractall("/opt/lithops/code")
PY
python3 -m pip install --quiet 'boto3>=1.28.57' {requirements}
cat > /etc/systemd/system/lithops-agent.service <<'UNIT'
[Unit]
Description=Lithops agent
After=network-online.target
[Service]
Environment=PYTHONPATH=/opt/lithops/code
Environment=LITHOPS_AGENT_CONFIG_FILE=/opt/lithops/agent.json
ExecStart=/usr/bin/python3 -m lithops_aws.aws_ec2.agent
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now lithops-agent.service
"""


class EC2Backend(ComputeBackend):
    """Runs calls on EC2 VMs.

    Args:
        config: the ``aws_ec2`` section (see ``lithops_aws.plugin.EC2_CONFIG``).
        lithops_config: the whole executor config.
    """

    transport = "storage"
    #: No start-up bound: VMs are shared by executors: calls may wait behind other executors' calls.
    start_timeout = None
    ships_modules = True
    config_schema: ClassVar[Mapping[str, ConfigKey]] = EC2_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        self.region = region_of(self.config)
        self.endpoint = self.config.get("endpoint")
        self.ec2 = make_client(self.config, "ec2", endpoint=self.endpoint)
        self.mode = str(self.config["exec_mode"])
        self.cluster = "lithops-workers" if self.mode == "reuse" else ""
        self._lock = threading.Lock()
        self._instances: list[str] | None = None
        self._created: list[str] = []
        self._next = 0

    # -- helpers ---------------------------------------------------------------------------------------------
    def _queue_prefix(self) -> str:
        return f"{PREFIX}/{self.cluster}/"

    def agent_config(self) -> dict[str, Any]:
        """What the agents need: storage, their queue prefix, parallelism and dismantle policy."""
        storage, storage_path = self.job_storage()
        return {
            "storage": {"name": storage.backend, "backend": storage_path, "bucket": storage.bucket,
                        "config": storage.storage_config[storage.backend]},
            "queue_prefix": self._queue_prefix(),
            "worker_processes": self.config["worker_processes"],
            "soft_dismantle_timeout": int(self.config["soft_dismantle_timeout"]),
            "hard_dismantle_timeout": int(self.config["hard_dismantle_timeout"]),
            "auto_dismantle": bool(self.config["auto_dismantle"]),
        }

    def user_data(self) -> str:
        """The VMs' boot script: installs the client's Lithops code and starts the agent service."""
        storage = self.job_storage()[0]
        key = f"{PREFIX}/code/{code_digest()[:16]}.zip"
        storage.put_object(storage.bucket, key, build_code_zip())
        url = storage.get_client().generate_presigned_url(
            "get_object", Params={"Bucket": storage.bucket, "Key": key}, ExpiresIn=7 * 24 * 3600)
        config = base64.b64encode(json.dumps(self.agent_config()).encode()).decode()
        requirements = " ".join(f"'{r}'" for r in str(self.config.get("runtime") or "").split())
        return _USER_DATA.format(config=config, code_url=url, requirements=requirements)

    def _ami(self) -> str:
        if self.config.get("target_ami"):
            return str(self.config["target_ami"])
        with aws_errors("EC2 DescribeImages", self.endpoint):
            images = self.ec2.describe_images(Owners=[UBUNTU_OWNER], Filters=[
                {"Name": "name", "Values": ["ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*"]},
                {"Name": "state", "Values": ["available"]}])["Images"]
        if not images:
            raise BackendError(f"no Ubuntu 22.04 image found in {self.region}: set aws_ec2.target_ami.")
        return str(max(images, key=lambda i: i.get("CreationDate", ""))["ImageId"])

    def _instance_profile(self) -> str:
        if self.config.get("iam_role"):
            return str(self.config["iam_role"])
        iam = make_client(self.config, "iam", endpoint=self.config.get("iam_endpoint") or self.endpoint)
        with aws_errors("IAM instance profile for EC2", self.endpoint):
            try:
                iam.get_instance_profile(InstanceProfileName=ROLE_NAME)
                return ROLE_NAME
            except Exception as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
            iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST),
                            Description="Role of Lithops' worker VMs: the storage bucket")
            iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="lithops-ec2", PolicyDocument=json.dumps(_POLICY))
            iam.create_instance_profile(InstanceProfileName=ROLE_NAME)
            iam.add_role_to_instance_profile(InstanceProfileName=ROLE_NAME, RoleName=ROLE_NAME)
        return ROLE_NAME

    def _security_group(self) -> str | None:
        if self.config.get("security_group_id"):
            return str(self.config["security_group_id"])
        with aws_errors("EC2 security group", self.endpoint):
            vpc = self.config.get("vpc_id")
            if not vpc:
                vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
                if not vpcs:
                    raise BackendError(f"region {self.region} has no default VPC: set aws_ec2.vpc_id and subnet_id.")
                vpc = vpcs[0]["VpcId"]
            found = self.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                               {"Name": "group-name", "Values": [SECURITY_GROUP]}])
            if found["SecurityGroups"]:
                return str(found["SecurityGroups"][0]["GroupId"])
            group = str(self.ec2.create_security_group(
                GroupName=SECURITY_GROUP, VpcId=vpc,
                Description="Lithops worker VMs: SSH in for debugging, everything out")["GroupId"])
            self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            return group

    def _describe(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with aws_errors("EC2 DescribeInstances", self.endpoint):
            pages = self.ec2.get_paginator("describe_instances").paginate(Filters=filters)
            return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def _start_stopped(self, instances: list[dict[str, Any]]) -> None:
        stopped = [i["InstanceId"] for i in instances if i["State"]["Name"] in ("stopped", "stopping")]
        if stopped:
            logger.info("Starting stopped VMs %s", ", ".join(stopped))
            with aws_errors("EC2 StartInstances", self.endpoint):
                self.ec2.start_instances(InstanceIds=stopped)

    def _create(self, count: int, executor_id: str) -> list[str]:
        tags = [{"Key": "Name", "Value": f"lithops-worker-{self.cluster}"},
                {"Key": "lithops_cluster", "Value": self.cluster}]
        tags += [{"Key": str(k), "Value": str(v)} for k, v in (self.config.get("user_tags") or {}).items()]
        args: dict[str, Any] = {
            "ImageId": self._ami(), "InstanceType": self.config.get("worker_instance_type") or "t2.medium",
            "MinCount": count, "MaxCount": count, "UserData": self.user_data(),
            "IamInstanceProfile": {"Name": self._instance_profile()},
            "InstanceInitiatedShutdownBehavior": "terminate" if self.mode == "create" and self.config.get(
                "delete_on_dismantle", True) else "stop",
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
        }
        group = self._security_group()
        if self.config.get("subnet_id"):
            args["NetworkInterfaces"] = [{"DeviceIndex": 0, "SubnetId": self.config["subnet_id"],
                                          "Groups": [group], "AssociatePublicIpAddress": True}]
        elif group:
            args["SecurityGroupIds"] = [group]
        if self.config.get("key_name"):
            args["KeyName"] = self.config["key_name"]
        if self.config.get("request_spot_instances"):
            args["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
                "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}
            args["InstanceInitiatedShutdownBehavior"] = "terminate"
        logger.info("Creating %d %s VM(s) for cluster %s", count, args["InstanceType"], self.cluster)
        with aws_errors("EC2 RunInstances", self.endpoint):
            created = [i["InstanceId"] for i in self.ec2.run_instances(**args)["Instances"]]
        return created

    def instances(self, executor_id: str) -> list[str]:
        """The VMs of this backend, started or created as ``exec_mode`` says (cached)."""
        with self._lock:
            if self._instances is not None:
                return self._instances
            if self.mode == "consume":
                iid = self.config.get("instance_id")
                if not iid:
                    raise BackendError("aws_ec2.exec_mode is 'consume' but aws_ec2.instance_id is not set.")
                self.cluster = str(iid)
                found = self._describe([{"Name": "instance-id", "Values": [iid]}])
                if not found:
                    raise BackendError(f"VM {iid} does not exist in region {self.region}: fix aws_ec2.instance_id.")
                self._start_stopped(found)
                ids = [str(iid)]  # it must run the Lithops agent (docs/backends/aws.md)
            else:
                if self.mode == "create":
                    self.cluster = f"executor-{executor_id}"
                states = ["pending", "running", "stopping", "stopped"]
                found = self._describe([{"Name": "tag:lithops_cluster", "Values": [self.cluster]},
                                        {"Name": "instance-state-name", "Values": states}])
                self._start_stopped(found)
                ids = [i["InstanceId"] for i in found]
                wanted = self.max_workers
                if len(ids) < wanted:
                    new = self._create(wanted - len(ids), executor_id)
                    self._created += new
                    ids += new
            self._instances = sorted(ids)
            return self._instances

    # -- the contract ----------------------------------------------------------------------------------------
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Queue the job's payloads for the VMs, spread over them in turn."""
        instances = self.instances(job.executor_id)
        storage = self.job_storage()[0]
        for n, ids in enumerate(job.chunks()):
            payload = job.worker_payload(ids)
            instance = instances[self._next % len(instances)]
            self._next += 1
            key = f"{self._queue_prefix()}{instance}/queue/{job.job_key}-{n:05d}.json"
            storage.put_object(storage.bucket, key, json.dumps(payload).encode())

    def close(self) -> None:
        """Dismantle the VMs this backend created in ``create`` mode (terminate, or stop)."""
        if self.mode != "create" or not self._created:
            return
        with aws_errors("EC2 dismantle", self.endpoint):
            if self.config["delete_on_dismantle"]:
                self.ec2.terminate_instances(InstanceIds=self._created)
            else:
                self.ec2.stop_instances(InstanceIds=self._created)
        self._created = []
