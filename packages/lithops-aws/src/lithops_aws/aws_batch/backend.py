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
from typing import Any, ClassVar

from lithops.backends.array_jobs import ArrayJobs, ArrayRun, poll_interval
from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.payloads import put_payload
from lithops.errors import BackendError, ConfigError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops_aws import __version__
from lithops_aws.aws_lambda.functions import CLIENT_PYTHON
from lithops_aws.plugin import (
    BATCH_CONFIG,
    EC2_STRATEGIES,
    SPOT_STRATEGIES,
    apply_aliases,
    batch_cpu,
    batch_problems,
)
from lithops_aws.session import aws_errors, error_code, make_client, region_of

logger = logging.getLogger(__name__)

ROLE_NAME = "lithops-batch-role"
WORKER_COMMAND = ["python3", "-m", "lithops_aws.aws_batch.entry_point"]
#: Largest array job Batch runs.
MAX_ARRAY_SIZE = 10_000
#: Jobs that cannot leave RUNNABLE for these reasons are cancelled by Batch after 10 minutes, with the reason as
#: their statusReason (which the watcher reports), instead of waiting forever.
RUNNABLE_LIMITS = [{"reason": reason, "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}
                   for reason in ("MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
                                  "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT")]
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
    #: No start-up bound: calls wait for the queue and for compute environments to scale up; watching
    #: DescribeJobs reports the real failures.
    start_timeout = None
    ships_modules = True
    #: Seconds to wait for a new compute environment or job queue to become VALID.
    READY_TIMEOUT = 600.0
    #: Least seconds between two DescribeJobs polls of the submitted jobs.
    MIN_WATCH_INTERVAL = 1.0
    config_schema: ClassVar[Mapping[str, ConfigKey]] = BATCH_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(apply_aliases(config, "aws_batch"), lithops_config, storage=storage)
        problems = batch_problems(self.config)
        if problems:
            raise ConfigError("aws_batch: " + "; ".join(problems) + ".")
        self.cpu = batch_cpu(self.config)
        self.region = region_of(self.config)
        self.endpoint = self.config.get("endpoint")
        self.batch = make_client(self.config, "batch", endpoint=self.endpoint)
        self.env_type = str(self.config.get("env_type") or "FARGATE")
        self.namespace = _clean(str(self.config.get("namespace") or ""))
        self._lock = threading.Lock()
        self._queue: str | None = None
        self._definitions: dict[tuple[str, int], str] = {}
        self._images: set[str] = set()
        #: The submitted Batch jobs (the run names are Batch job ids), watched by DescribeJobs polls.
        self.runs = ArrayJobs(self, poll_interval(self, self.MIN_WATCH_INTERVAL), "lithops-batch-watch")

    # -- names -----------------------------------------------------------------------------------------------
    @property
    def fargate(self) -> bool:
        """Whether the compute environment is Fargate (or Fargate Spot)."""
        return self.env_type.startswith("FARGATE")

    def _suffix(self) -> str:
        env = self.env_type.lower().replace("_", "-")
        return f"{self.namespace}-{env}" if self.namespace else env

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
        cpu = _clean(f"{self.cpu:g}")
        ns = f"{self.namespace}-" if self.namespace else ""
        return f"lithops-{ns}{_clean(runtime.rsplit('/', 1)[-1])[:60]}-{digest}-{memory}mb-{cpu}cpu"[:128]

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
                    default = EC2_STRATEGIES[0] if self.env_type == "EC2" else SPOT_STRATEGIES[0]
                    resources.update(minvCpus=0, instanceTypes=list(self.config.get("instance_types") or ["optimal"]),
                                     instanceRole=self.config["instance_role"],
                                     allocationStrategy=self.config.get("allocation_strategy") or default)
                    if self.config.get("spot_fleet_role") and self.env_type == "SPOT":
                        resources["spotIamFleetRole"] = self.config["spot_fleet_role"]
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
                                            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
                                            jobStateTimeLimitActions=RUNNABLE_LIMITS)
            self._wait_valid(lambda: self.batch.describe_job_queues(jobQueues=[queue]), "jobQueues",
                             f"job queue {queue}")
        self._queue = queue
        return queue

    def ensure_definition(self, runtime: str, memory: int) -> str:
        """The job definition of ``runtime`` with ``memory`` MiB, registered when missing; returns its ARN."""
        key = (runtime, memory)
        if key in self._definitions:
            return self._definitions[key]
        problems = batch_problems({**self.config, "runtime_memory": memory})
        if problems:
            raise ConfigError("aws_batch: " + "; ".join(problems) + ".")
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
                    "resourceRequirements": [{"type": "VCPU", "value": f"{self.cpu:g}"},
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

    def ensure_image(self, runtime: str) -> None:
        """Make sure the runtime image is in this account's ECR before any job needs it.

        The default runtime is built and pushed when missing (with docker, podman or buildah, as the runtime
        builder does); any other missing image, or the default one with no container tool, is refused with the
        command that builds it. Images of other registries are not checked.
        """
        uri = self.image_uri(runtime)
        if uri in self._images or not uri.split("/", 1)[0].endswith(".amazonaws.com"):
            return
        repository, _, tag = uri.split("/", 1)[1].partition(":")
        ecr = make_client(self.config, "ecr", endpoint=self.config.get("ecr_endpoint"))
        with aws_errors(f"ECR DescribeImages {uri}", self.config.get("ecr_endpoint")):
            try:
                found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag or "latest"}])
                exists = bool(found.get("imageDetails"))
            except Exception as exc:
                if error_code(exc) not in ("RepositoryNotFoundException", "ImageNotFoundException"):
                    raise
                exists = False
        if not exists:
            if runtime != default_runtime_name():
                raise BackendError(
                    f"the Batch runtime image {uri} is not in ECR, so every job would fail to pull it. Build and "
                    f"push it first: 'lithops runtime build -b aws_batch -f Dockerfile {runtime}' (docker, podman "
                    f"or buildah), or set aws_batch.runtime to an image that exists."
                )
            from lithops.backends.containers import NoContainerToolError, find_tool
            from lithops_aws.aws_batch.runtime import BatchRuntimeBuilder

            try:
                find_tool()
            except NoContainerToolError:
                raise BackendError(
                    f"the default Batch runtime image {uri} is not in ECR yet, and this machine has no docker, "
                    f"podman or buildah to build it. Build it once from a machine that has one: 'lithops runtime "
                    f"build -b aws_batch' (no name builds the default), or set aws_batch.runtime to an image you "
                    f"pushed. Nothing was submitted."
                ) from None
            logger.info("Building the default Batch runtime image %s", uri)
            BatchRuntimeBuilder(self.config, self.lithops_config).build(runtime)
        self._images.add(uri)

    def worker_processes(self) -> int:
        """Calls one job runs at once: ``worker_processes``, or one per vCPU with AUTO."""
        value = self.config["worker_processes"]
        return max(1, int(-(-self.cpu // 1))) if value == "AUTO" else int(value)

    # -- the contract ----------------------------------------------------------------------------------------
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Write the job's payloads to storage, submit one array job that runs them, and watch it."""
        memory = int(job.runtime_memory or self.config["runtime_memory"])
        # a Batch job is stopped after runtime_timeout (attemptDurationSeconds): no call outlives it
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        runtime = self.runtime_name()
        with self._lock:
            self.ensure_image(runtime)
            queue = self.ensure_queue()
            definition = self.ensure_definition(runtime, memory)
        groups = job.call_groups(min(self.max_workers, MAX_ARRAY_SIZE))
        payloads = [job.worker_payload(ids, self.worker_processes()) for ids in groups]
        reference = put_payload(self, job, f"{job.prefix}/batch_payloads.json", payloads)
        args: dict[str, Any] = {
            "jobName": _clean(f"lithops-{job.job_key}")[:128],
            "jobQueue": queue,
            "jobDefinition": definition,
            "containerOverrides": {"environment": [
                {"name": "LITHOPS_BATCH_PAYLOADS", "value": reference["key"]},
                {"name": "LITHOPS_BATCH_STORAGE", "value": json.dumps(reference["storage"])},
            ]},
        }
        if len(payloads) > 1:
            args["arrayProperties"] = {"size": len(payloads)}
        with aws_errors(f"Batch SubmitJob of {job.job_key}", self.endpoint):
            job_id = str(self.batch.submit_job(**args)["jobId"])
        self.runs.watch(ArrayRun(job.executor_id, job.job_id, job_id, groups, report))
        logger.debug("ExecutorID %s | JobID %s - Batch job %s with %d children", job.executor_id, job.job_id,
                     job_id, len(payloads))

    # -- watching the submitted jobs (lithops.backends.array_jobs) -------------------------------------------
    def poll_runs(self, runs: list[ArrayRun]) -> None:
        """One look at the watched jobs: calls of failed jobs or children, and of jobs whose compute environment
        or queue cannot run them, are failed with Batch's own reason.
        """
        by_id = {run.name: run for run in runs}
        ids = list(by_id)
        jobs: list[dict[str, Any]] = []
        for i in range(0, len(ids), 100):
            jobs += self.batch.describe_jobs(jobs=ids[i:i + 100])["jobs"]
        waiting = []
        for desc in jobs:
            run = by_id[desc["jobId"]]
            status = desc.get("status")
            # an array job stays RUNNING until every child ends; its statusSummary counts failed children sooner
            summary = (desc.get("arrayProperties") or {}).get("statusSummary") or {}
            if status == "FAILED" or int(summary.get("FAILED") or 0) > len(run.failed):
                self._fail_children(run, desc)
            if status in ("SUCCEEDED", "FAILED"):
                self.runs.finish(run)
            elif status in ("SUBMITTED", "PENDING", "RUNNABLE"):
                waiting.append(run)
        if waiting:
            reason = self._blocked_reason()
            if reason:
                for run in waiting:
                    self.runs.fail(run, range(len(run.groups)), reason)
                    self.runs.stop(run, reason)

    def _blocked_reason(self) -> str | None:
        """Why the queue cannot run jobs (its compute environment INVALID or DISABLED), or None."""
        env = self.environment_name
        found = self.batch.describe_compute_environments(computeEnvironments=[env])["computeEnvironments"]
        if not found:
            return f"the Batch compute environment {env} no longer exists"
        ce = found[0]
        if ce.get("status") == "INVALID" or ce.get("state") == "DISABLED":
            return (f"the Batch compute environment {env} is {ce.get('status')}/{ce.get('state')}: "
                    f"{ce.get('statusReason') or 'no reason given'}")
        return None

    def _fail_children(self, run: ArrayRun, desc: Mapping[str, Any]) -> None:
        if len(run.groups) == 1:
            self.runs.fail(run, [0], _reason(desc))
            return
        pages = self.batch.get_paginator("list_jobs").paginate(arrayJobId=run.name, jobStatus="FAILED")
        for page in pages:
            for child in page.get("jobSummaryList", []):
                index = int((child.get("arrayProperties") or {}).get("index", child["jobId"].rsplit(":", 1)[-1]))
                self.runs.fail(run, [index], _reason(child))

    def index_failure(self, run: ArrayRun, index: int, reason: str) -> str:
        """The error of the calls of a failed child that wrote no status."""
        child = "" if len(run.groups) == 1 else f" (child {index})"
        return f"AWS Batch job {run.name}{child} of {run.job_key} failed: {reason}"

    def stop_run(self, run: ArrayRun, reason: str) -> None:
        """Terminate a Batch job (its children that run stop, the others never start)."""
        self.batch.terminate_job(jobId=run.name, reason=reason[:200])

    def batch_job_id(self, job_key: str) -> str | None:
        """The Batch job id of a Lithops job submitted by this backend."""
        run = self.runs.run(job_key)
        return None if run is None else run.name

    def cancel(self, job_keys: Collection[str]) -> None:
        """Terminate the array jobs of these Lithops jobs."""
        self.runs.cancel(job_keys)

    def close(self) -> None:
        """Stop watching the submitted jobs (a job submitted later is watched again)."""
        self.runs.close()

    @property
    def max_workers(self) -> int:
        """Largest number of array children per job: ``max_workers``, else what the environment runs at once."""
        if self.config["max_workers"] is not None:
            return int(self.config["max_workers"])
        return max(1, int(int(self.config["env_max_cpus"]) // self.cpu))


def _reason(desc: Mapping[str, Any]) -> str:
    """Batch's reason of a failed job: its statusReason and its container's reason (e.g. an image pull error)."""
    parts = [str(desc.get("statusReason") or "")]
    container = desc.get("container") or {}
    if container.get("reason"):
        parts.append(str(container["reason"]))
    if container.get("exitCode") not in (None, 0):
        parts.append(f"exit code {container['exitCode']}")
    return "; ".join(p for p in parts if p) or "no reason given"
