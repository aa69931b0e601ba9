"""The EC2 VM life cycle, as a :class:`lithops.standalone.provider.VMProvider`.

VMs that Lithops creates (``exec_mode`` ``create`` and ``reuse``) boot with the kernel's bootstrap as user data:
each asks the instance metadata service (IMDSv2) for its instance id, downloads the client's code from a pre-signed
URL and starts the agent, which works through the storage bucket with the instance profile's credentials. No SSH,
no inbound port. In ``consume`` mode the VM is the user's: the agent is installed on it over SSH.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import botocore.exceptions

from lithops.errors import BackendError
from lithops.standalone.backend import client_python, default_image
from lithops.standalone.provider import VM, MetadataRequest, VMProvider, metadata_command, named_vm
from lithops_aws.session import error_code, make_client, region_of, translate

logger = logging.getLogger(__name__)

ROLE_NAME = "lithops-ec2-role"
SECURITY_GROUP = "lithops-sg"
#: The default image for each client Python: an official image whose ``python3`` is that version, as
#: ``(owner account, image name pattern)`` (Canonical's Ubuntu, the Debian cloud team's Debian).
DEFAULT_IMAGES = {
    "3.10": ("099720109477", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"),
    "3.11": ("136693071363", "debian-12-amd64-*"),
    "3.12": ("099720109477", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"),
    "3.13": ("136693071363", "debian-13-amd64-*"),
}
#: Seconds RunInstances is retried while a new instance profile is not yet visible to EC2 (IAM is eventually
#: consistent: a profile is usually usable after about ten seconds).
PROFILE_PROPAGATION_SEC = 120.0
#: Seconds between two looks at the VMs' states.
POLL_SEC = 1.0
#: The VM's own instance id, from the instance metadata service (IMDSv2), with the runtime's Python.
IMDS_INSTANCE_ID = metadata_command(
    MetadataRequest("http://169.254.169.254/latest/meta-data/instance-id"),
    token=MetadataRequest("http://169.254.169.254/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "300"},
                          method="PUT"),
    token_header=("X-aws-ec2-metadata-token", "{}"))
_LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
     "Resource": "*"}]}


def _profile_not_visible(exc: BaseException) -> bool:
    """Whether RunInstances refused an instance profile that IAM may not have propagated yet."""
    if error_code(exc) != "InvalidParameterValue":
        return False
    message = str(exc).lower()
    return "iam instance profile" in message or "iaminstanceprofile" in message


class EC2VMs(VMProvider):
    """EC2 instances tagged ``lithops_cluster=<cluster>`` (or ``instance_id`` in consume mode)."""

    vm_id_command = IMDS_INSTANCE_ID

    def __init__(self, config: Mapping[str, Any], cluster: str) -> None:
        super().__init__(config, cluster)
        self.region = region_of(self.config)
        self.endpoint = self.config.get("endpoint")
        self.ec2 = make_client(self.config, "ec2", endpoint=self.endpoint)
        self.mode = str(self.config.get("exec_mode") or "reuse")
        #: consume mode: the VM is the user's, so the agent is installed on it over SSH
        self.installs_over_ssh = self.mode == "consume"

    def _error(self, exc: BaseException, what: str) -> BaseException:
        """The Lithops error for a boto3 failure: a general one translated, any other a BackendError."""
        new = translate(exc, what, self.endpoint)
        return BackendError(f"{what} in {self.region} failed: {exc}") if new is exc else new

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        """Boto3 failures inside as Lithops errors (:meth:`_error`)."""
        try:
            yield
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, what) from exc

    # -- reading ---------------------------------------------------------------------------------------------
    def _vm(self, instance: Mapping[str, Any]) -> VM:
        address = instance.get("PublicIpAddress") or instance.get("PrivateIpAddress")
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags") or []}
        extra = {"lithops_exec_mode": tags["lithops_exec_mode"]} if "lithops_exec_mode" in tags else {}
        return VM(id=str(instance["InstanceId"]), name=str(instance["InstanceId"]), address=address,
                  state=str(instance["State"]["Name"]), image=instance.get("ImageId"),
                  spot=instance.get("InstanceLifecycle") == "spot", extra=extra)

    def _describe(self, **kwargs: Any) -> list[VM]:
        with self._calls("EC2 DescribeInstances"):
            pages = self.ec2.get_paginator("describe_instances").paginate(**kwargs)
            return [self._vm(i) for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def list_vms(self) -> list[VM]:
        """The cluster's instances that are not terminated."""
        return self._describe(Filters=[{"Name": "tag:lithops_cluster", "Values": [self.cluster]},
                                       {"Name": "instance-state-name", "Values": _LIVE_STATES}])

    def named(self) -> list[VM]:
        """``instance_id`` (consume mode)."""
        instance = named_vm(self.config, "aws_ec2", "instance_id", "id")
        try:
            found = self._describe(InstanceIds=[str(instance)])
        except BackendError as exc:
            if "InvalidInstanceID" not in str(exc):
                raise
            found = []
        if not found or found[0].state in ("shutting-down", "terminated"):
            raise BackendError(f"VM {instance} does not exist in region {self.region}: fix aws_ec2.instance_id.")
        return found

    # -- the life cycle --------------------------------------------------------------------------------------
    def create(self, count: int, *, spot: bool = False, user_data: str | None = None,
               tags: Mapping[str, str] | None = None) -> list[VM]:
        """Run ``count`` instances of ``worker_instance_type`` (spot ones when ``spot``) booting with
        ``user_data``.
        """
        if self.config.get("vpc_id") and not self.config.get("public_subnet_id"):
            raise BackendError(f"aws_ec2.vpc_id is {self.config['vpc_id']} but public_subnet_id is not set: without a "
                               f"subnet EC2 puts VMs in the default VPC. Set aws_ec2.public_subnet_id to a subnet of "
                               f"that VPC.")
        all_tags = {"Name": f"lithops-worker-{self.cluster}", "lithops_cluster": self.cluster, **(tags or {}),
                    **{str(k): str(v) for k, v in (self.config.get("user_tags") or {}).items()}}
        delete = self.mode == "create" and self.config.get("delete_on_dismantle", True)
        args: dict[str, Any] = {
            "ImageId": self._image(), "InstanceType": self.config.get("worker_instance_type") or "t2.medium",
            "MinCount": count, "MaxCount": count,
            "IamInstanceProfile": self._instance_profile(),
            "InstanceInitiatedShutdownBehavior": "terminate" if delete or spot else "stop",
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}],
        }
        if user_data:
            args["UserData"] = user_data
        group = self._security_group()
        if self.config.get("public_subnet_id"):
            args["NetworkInterfaces"] = [{"DeviceIndex": 0, "SubnetId": self.config["public_subnet_id"],
                                          "Groups": [group], "AssociatePublicIpAddress": True}]
        else:
            args["SecurityGroupIds"] = [group]
        if self.config.get("ssh_key_name"):
            args["KeyName"] = self.config["ssh_key_name"]
        if spot:
            args["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
                "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}
        logger.info("Creating %d %s VM(s) for cluster %s", count, args["InstanceType"], self.cluster)
        deadline = time.monotonic() + PROFILE_PROPAGATION_SEC
        wait = 1.0
        while True:
            try:
                instances = self.ec2.run_instances(**args)["Instances"]
                return [self._vm(i) for i in instances]
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                if not _profile_not_visible(exc) or time.monotonic() + wait > deadline:
                    raise self._error(exc, "EC2 RunInstances") from exc
                logger.info("Instance profile not visible to EC2 yet; trying again in %.0f s", wait)
                time.sleep(wait)
                wait = min(wait * 2, 8.0)

    def start(self, vms: list[VM]) -> None:
        """Start these VMs; VMs still stopping are started once stopped (EC2 refuses to start them before)."""
        ids = [vm.id for vm in vms]
        if not ids:
            return
        states = self.settled_states(lambda: {vm.id: vm.state for vm in self._describe(InstanceIds=ids)},
                                     poll_sec=POLL_SEC)
        stopped = [i for i, state in states.items() if state == "stopped"]
        if stopped:
            logger.info("Starting stopped VMs %s", ", ".join(stopped))
            with self._calls("EC2 StartInstances"):
                self.ec2.start_instances(InstanceIds=stopped)

    def stop(self, vms: list[VM]) -> None:
        """Stop these VMs (their disks are kept)."""
        if vms:
            with self._calls("EC2 StopInstances"):
                self.ec2.stop_instances(InstanceIds=[vm.id for vm in vms])

    def delete(self, vms: list[VM]) -> None:
        """Terminate these VMs."""
        if vms:
            with self._calls("EC2 TerminateInstances"):
                self.ec2.terminate_instances(InstanceIds=[vm.id for vm in vms])

    def wait_ready(self, vm: VM, timeout: float) -> VM:
        """Wait until ``vm`` runs (and, in consume mode, has an address to log in to)."""
        def look() -> VM:
            [found] = self._describe(InstanceIds=[vm.id])
            if found.state in ("shutting-down", "terminated"):
                raise BackendError(f"VM {vm.id} is {found.state} (a spot VM taken back, or terminated by someone): "
                                   f"run the job again for a new VM.")
            return found

        return self.poll_ready(vm.id, timeout, look, poll_sec=POLL_SEC)

    # -- what VMs are made with ------------------------------------------------------------------------------
    def _image(self) -> str:
        if self.config.get("target_ami"):
            return str(self.config["target_ami"])
        wanted = client_python()
        owner, pattern = default_image(DEFAULT_IMAGES, "EC2", "aws_ec2.target_ami",
                                       " (or set aws_ec2.runtime to a container image with it)")
        with self._calls("EC2 DescribeImages"):
            images = self.ec2.describe_images(Owners=[owner], Filters=[
                {"Name": "name", "Values": [pattern]}, {"Name": "state", "Values": ["available"]},
                {"Name": "architecture", "Values": ["x86_64"]}])["Images"]
        if not images:
            raise BackendError(f"no image {pattern} (Python {wanted}) found in {self.region}: set "
                               f"aws_ec2.target_ami to an x86_64 image with Python {wanted}.")
        return str(max(images, key=lambda i: i.get("CreationDate", ""))["ImageId"])

    def _instance_profile(self) -> dict[str, str]:
        role = self.config.get("instance_role")
        if role:
            return {"Arn" if str(role).startswith("arn:") else "Name": str(role)}
        iam = make_client(self.config, "iam", endpoint=self.config.get("iam_endpoint") or self.endpoint)
        with self._calls("IAM instance profile for EC2"):
            try:
                iam.get_instance_profile(InstanceProfileName=ROLE_NAME)
                return {"Name": ROLE_NAME}
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
            logger.info("Creating the instance profile %s", ROLE_NAME)
            try:
                iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST),
                                Description="Role of Lithops' worker VMs: the storage bucket")
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "EntityAlreadyExists":
                    raise
            iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="lithops-ec2", PolicyDocument=json.dumps(_POLICY))
            iam.create_instance_profile(InstanceProfileName=ROLE_NAME)
            iam.add_role_to_instance_profile(InstanceProfileName=ROLE_NAME, RoleName=ROLE_NAME)
        return {"Name": ROLE_NAME}

    def _security_group(self) -> str:
        """``security_group_id``, or ``lithops-sg`` in the VPC: all traffic out, and in only port 22 from
        ``ssh_allowed_cidr`` when it is set (the agent needs no inbound port).
        """
        if self.config.get("security_group_id"):
            return str(self.config["security_group_id"])
        cidr = self.config.get("ssh_allowed_cidr")
        with self._calls("EC2 security group"):
            vpc = self.config.get("vpc_id")
            if not vpc:
                vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
                if not vpcs:
                    raise BackendError(f"region {self.region} has no default VPC: set aws_ec2.vpc_id and "
                                       f"aws_ec2.public_subnet_id.")
                vpc = vpcs[0]["VpcId"]
            found = self.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                               {"Name": "group-name", "Values": [SECURITY_GROUP]}])
            if found["SecurityGroups"]:
                group = found["SecurityGroups"][0]
                group_id = str(group["GroupId"])
                opened = {r.get("CidrIp") for p in group.get("IpPermissions", []) if p.get("FromPort") == 22
                          for r in p.get("IpRanges", [])}
            else:
                group_id = str(self.ec2.create_security_group(
                    GroupName=SECURITY_GROUP, VpcId=vpc,
                    Description="Lithops worker VMs: everything out; SSH in only from ssh_allowed_cidr")["GroupId"])
                opened = set()
            if cidr and cidr not in opened:
                self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                     "IpRanges": [{"CidrIp": cidr, "Description": "lithops attach (aws_ec2.ssh_allowed_cidr)"}]}])
            return group_id
