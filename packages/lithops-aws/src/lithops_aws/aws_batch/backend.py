"""The ``aws_batch`` compute backend (serverless mode, storage transport): one array job per Lithops job.

The worker payloads of a job are written to storage as one JSON list; an array job of that many children runs the
runtime image's command ``python3 -m lithops_aws.aws_batch.entry_point``, and child ``i``
(``AWS_BATCH_JOB_ARRAY_INDEX``) runs payload ``i``. Lithops creates (or reuses) the compute environment, the job
queue, the job definition of the runtime and an IAM role for the containers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.errors import BackendError
from lithops.job.job import JobRequest
from lithops_aws import __version__
from lithops_aws.aws_lambda.functions import CLIENT_PYTHON
from lithops_aws.session import aws_errors, error_code, make_client, region_of

logger = logging.getLogger(__name__)

ROLE_NAME = "lithops-batch-role"
WORKER_COMMAND = ["python3", "-m", "lithops_aws.aws_batch.entry_point"]
#: Largest array job Batch runs.
MAX_ARRAY_SIZE = 10_000
_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
                                   "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "logs:CreateLogStream",
                                   "logs:PutLogEvents", "logs:CreateLogGroup"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
     "Resource": "*"}]}


def default_runtime_name() -> str:
    """The image Lithops builds for Batch when ``aws_batch.runtime`` is unset."""
    return f"lithops-batch-default-v{CLIENT_PYTHON.replace('.', '')}:{__version__}"


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


class BatchBackend(ComputeBackend):
    """Runs calls as AWS Batch array jobs.

    Args:
        config: the ``aws_batch`` section (see ``lithops_aws.plugin.BATCH_CONFIG``).
        lithops_config: the whole executor config (its storage section is where payloads go).
    """

    transport = "storage"
    ships_modules = True
    #: Seconds to wait for a new compute environment or job queue to become VALID.
    READY_TIMEOUT = 600.0

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any]) -> None:
        super().__init__(config, lithops_config)
        self.region = region_of(self.config)
        self.endpoint = self.config.get("endpoint")
        self.batch = make_client(self.config, "batch", endpoint=self.endpoint)
        self.env_type = str(self.config.get("env_type") or "FARGATE")
        self._lock = threading.Lock()
        self._queue: str | None = None
        self._definitions: dict[tuple[str, int], str] = {}
        self._jobs: dict[str, str] = {}

    # -- names -----------------------------------------------------------------------------------------------
    @property
    def fargate(self) -> bool:
        """Whether the compute environment is Fargate (or Fargate Spot)."""
        return self.env_type.startswith("FARGATE")

    def _suffix(self) -> str:
        return self.env_type.lower().replace("_", "-")

    @property
    def environment_name(self) -> str:
        """Name of the compute environment Lithops uses."""
        return f"lithops-{self._suffix()}-env"

    @property
    def queue_name(self) -> str:
        """Name of the job queue Lithops uses."""
        return f"lithops-{self._suffix()}-queue"

    def runtime_name(self) -> str:
        """The configured image, or the default one."""
        return str(self.config.get("runtime") or default_runtime_name())

    def image_uri(self, runtime: str) -> str:
        """ECR URI of an image name (a full URI is kept)."""
        first = runtime.split("/", 1)[0]
        if "/" in runtime and ("." in first or ":" in first):
            return runtime
        account = self.config.get("account_id")
        if not account:
            sts = make_client(self.config, "sts", endpoint=self.config.get("sts_endpoint"))
            with aws_errors("STS GetCallerIdentity", self.config.get("sts_endpoint")):
                account = sts.get_caller_identity()["Account"]
            self.config["account_id"] = account
        name = runtime if ":" in runtime else f"{runtime}:latest"
        return f"{account}.dkr.ecr.{self.region}.amazonaws.com/{name}"

    def definition_name(self, runtime: str, memory: int) -> str:
        """Job definition of a runtime, memory size and vCPUs."""
        digest = hashlib.sha1(runtime.encode(), usedforsecurity=False).hexdigest()[:8]
        cpu = _clean(str(self.config.get("runtime_cpu") or 0.5))
        return f"lithops-{_clean(runtime.rsplit('/', 1)[-1])[:60]}-{digest}-{memory}mb-{cpu}cpu"[:128]

    # -- infrastructure --------------------------------------------------------------------------------------
    def _role(self) -> str:
        for key in ("job_role", "execution_role"):
            if self.config.get(key):
                return str(self.config[key])
        iam = make_client(self.config, "iam", endpoint=self.config.get("iam_endpoint"))
        with aws_errors("IAM role for Batch", self.config.get("iam_endpoint")):
            try:
                return str(iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"])
            except Exception as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
            arn = str(iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST),
                                      Description="Role of Lithops' Batch containers")["Role"]["Arn"])
            iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="lithops-batch", PolicyDocument=json.dumps(_POLICY))
            return arn

    def _network(self) -> tuple[list[str], list[str]]:
        subnets, groups = list(self.config.get("subnets") or []), list(self.config.get("security_groups") or [])
        if subnets and groups:
            return subnets, groups
        ec2 = make_client(self.config, "ec2", endpoint=self.endpoint)
        with aws_errors("EC2 default VPC lookup", self.endpoint):
            vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
            if not vpcs:
                raise BackendError(
                    f"region {self.region} has no default VPC: set aws_batch.subnets and aws_batch.security_groups."
                )
            vpc = vpcs[0]["VpcId"]
            if not subnets:
                found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
                subnets = [s["SubnetId"] for s in found]
            if not groups:
                found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                              {"Name": "group-name", "Values": ["default"]}])
                groups = [g["GroupId"] for g in found["SecurityGroups"]]
        return subnets, groups

    def _wait_valid(self, describe: Any, key: str, name: str) -> None:
        deadline = time.monotonic() + self.READY_TIMEOUT
        while True:
            items = describe()[key]
            item = items[0] if items else {}
            if item.get("status") == "VALID":
                return
            if item.get("status") == "INVALID":
                raise BackendError(f"Batch {name} is INVALID: {item.get('statusReason')}. Fix or delete it.")
            if time.monotonic() > deadline:
                raise BackendError(f"Batch {name} was not VALID after {self.READY_TIMEOUT:g} s.")
            time.sleep(1)

    def ensure_queue(self) -> str:
        """The job queue (and its compute environment), created when missing."""
        if self._queue is not None:
            return self._queue
        env = self.environment_name
        with aws_errors("Batch compute environment", self.endpoint):
            found = self.batch.describe_compute_environments(computeEnvironments=[env])["computeEnvironments"]
            if not found:
                subnets, groups = self._network()
                resources: dict[str, Any] = {"type": self.env_type, "maxvCpus": int(self.config["env_max_cpus"]),
                                             "subnets": subnets, "securityGroupIds": groups}
                if not self.fargate:
                    resources.update(minvCpus=0, instanceTypes=["optimal"])
                    if self.config.get("instance_role"):
                        resources["instanceRole"] = self.config["instance_role"]
                args: dict[str, Any] = {"computeEnvironmentName": env, "type": "MANAGED", "state": "ENABLED",
                                        "computeResources": resources}
                if self.config.get("service_role"):
                    args["serviceRole"] = self.config["service_role"]
                logger.info("Creating Batch compute environment %s", env)
                self.batch.create_compute_environment(**args)
            self._wait_valid(lambda: self.batch.describe_compute_environments(computeEnvironments=[env]),
                             "computeEnvironments", f"compute environment {env}")
            queue = self.queue_name
            if not self.batch.describe_job_queues(jobQueues=[queue])["jobQueues"]:
                logger.info("Creating Batch job queue %s", queue)
                self.batch.create_job_queue(jobQueueName=queue, state="ENABLED", priority=1,
                                            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}])
            self._wait_valid(lambda: self.batch.describe_job_queues(jobQueues=[queue]), "jobQueues",
                             f"job queue {queue}")
        self._queue = queue
        return queue

    def ensure_definition(self, runtime: str, memory: int) -> str:
        """The job definition of ``runtime`` with ``memory`` MiB, registered when missing; returns its ARN."""
        key = (runtime, memory)
        if key in self._definitions:
            return self._definitions[key]
        name = self.definition_name(runtime, memory)
        with aws_errors("Batch job definition", self.endpoint):
            found = self.batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
            if found:
                arn = str(max(found, key=lambda d: d["revision"])["jobDefinitionArn"])
            else:
                role = self._role()
                env = [{"name": str(k), "value": str(v)} for k, v in (self.config.get("env_vars") or {}).items()]
                env.append({"name": "LITHOPS_RUNTIME_TIMEOUT", "value": str(self.config["runtime_timeout"])})
                container: dict[str, Any] = {
                    "image": self.image_uri(runtime),
                    "command": WORKER_COMMAND,
                    "jobRoleArn": role,
                    "executionRoleArn": str(self.config.get("execution_role") or role),
                    "resourceRequirements": [{"type": "VCPU", "value": str(self.config["runtime_cpu"])},
                                             {"type": "MEMORY", "value": str(memory)}],
                    "environment": env,
                }
                if self.fargate:
                    container["networkConfiguration"] = {
                        "assignPublicIp": "ENABLED" if self.config.get("assign_public_ip", True) else "DISABLED"}
                logger.info("Registering Batch job definition %s", name)
                arn = str(self.batch.register_job_definition(
                    jobDefinitionName=name, type="container",
                    platformCapabilities=["FARGATE" if self.fargate else "EC2"],
                    containerProperties=container, retryStrategy={"attempts": 1},
                    timeout={"attemptDurationSeconds": int(self.config["runtime_timeout"])},
                    tags={"lithops_runtime": runtime[:256], "lithops_python": CLIENT_PYTHON},
                )["jobDefinitionArn"])
        self._definitions[key] = arn
        return arn

    # -- the contract ----------------------------------------------------------------------------------------
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Write the job's payloads to storage and submit one array job that runs them."""
        memory = int(job.runtime_memory or self.config.get("runtime_memory") or 1024)
        with self._lock:
            queue = self.ensure_queue()
            definition = self.ensure_definition(self.runtime_name(), memory)
        groups = job.chunks()
        if len(groups) > MAX_ARRAY_SIZE:
            ids, per = job.call_ids, -(-job.total_calls // MAX_ARRAY_SIZE)
            groups = [ids[i : i + per] for i in range(0, len(ids), per)]
        payloads = []
        for ids in groups:
            payload = job.worker_payload(ids)
            payload["worker_processes"] = int(self.config.get("worker_processes") or 1)
            payloads.append(payload)
        storage, storage_path = self.job_storage()
        key = f"{job.prefix}/batch_payloads.json"
        storage.put_object(storage.bucket, key, json.dumps(payloads).encode())
        spec = {"name": storage.backend, "backend": job.storage_backend or storage_path,
                "config": storage.storage_config[storage.backend], "bucket": storage.bucket}
        args: dict[str, Any] = {
            "jobName": _clean(f"lithops-{job.executor_id}-{job.job_id}")[:128],
            "jobQueue": queue,
            "jobDefinition": definition,
            "containerOverrides": {"environment": [
                {"name": "LITHOPS_BATCH_PAYLOADS", "value": key},
                {"name": "LITHOPS_BATCH_STORAGE", "value": json.dumps(spec)},
            ]},
        }
        if len(payloads) > 1:
            args["arrayProperties"] = {"size": len(payloads)}
        with aws_errors(f"Batch SubmitJob of {job.job_key}", self.endpoint):
            job_id = str(self.batch.submit_job(**args)["jobId"])
        self._jobs[job.job_key] = job_id
        logger.debug("ExecutorID %s | JobID %s - Batch job %s with %d children", job.executor_id, job.job_id,
                     job_id, len(payloads))

    def batch_job_id(self, job_key: str) -> str | None:
        """The Batch job id of a Lithops job submitted by this backend."""
        return self._jobs.get(job_key)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Terminate the array jobs of these Lithops jobs."""
        for key in job_keys:
            job_id = self._jobs.get(key)
            if job_id is not None:
                try:
                    self.batch.terminate_job(jobId=job_id, reason="cancelled by Lithops")
                except Exception as exc:  # best effort
                    logger.warning("could not terminate Batch job %s: %s", job_id, exc)

    @property
    def max_workers(self) -> int:
        """Largest number of array children per job."""
        return int(self.config.get("max_workers") or 100)
