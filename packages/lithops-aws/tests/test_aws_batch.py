"""aws_batch: control-plane calls against moto's server; the array children run locally as Batch would run them."""

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
from strict_aws import StrictAWS

import lithops
from conftest import make_bucket
from lithops.errors import BackendError, ConfigError, WorkerDiedError
from lithops_aws.aws_batch.backend import ROLE_NAME, WORKER_COMMAND, default_runtime_name
from lithops_aws.aws_batch.runtime import BatchRuntimeBuilder


@pytest.fixture(scope="module")
def moto() -> Any:
    """A moto server of this module's own: Batch keeps threads for submitted jobs, which must not slow other tests."""
    from lithops_aws.testing.moto_server import MotoServer

    with MotoServer(subprocess=True) as server:
        server.configure({"batch": {"use_docker": False}})
        yield server


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


@pytest.fixture(scope="module")
def strict(moto: Any) -> Any:
    """Batch as AWS answers it: requests AWS refuses are refused; jobs stay RUNNABLE unless a test says more."""
    with StrictAWS(moto.url, hold_jobs=True) as layer:
        yield layer


def push_image(moto_url: str, repository: str, tag: str) -> None:
    """Put an image manifest into moto's ECR, as a push would."""
    ecr = _client("ecr", moto_url)
    try:
        ecr.create_repository(repositoryName=repository)
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": "sha256:" + "0" * 64, "size": 1,
                           "mediaType": "application/vnd.docker.container.image.v1+json"}, "layers": []}
    try:
        ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
    except ecr.exceptions.ImageAlreadyExistsException:
        pass


@pytest.fixture
def config(moto: Any, strict: Any) -> dict[str, Any]:
    bucket = f"lithops-batch-{uuid.uuid4().hex[:8]}"
    make_bucket(moto.url, bucket)
    push_image(moto.url, "lithops-batch", "1")
    iam = _client("iam", moto.url)
    try:
        role = iam.get_role(RoleName="batch-service")
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")
    return {
        "lithops": {"backend": "aws_batch", "storage": "aws_s3", "monitoring_interval": 0.1},
        "aws": {"region": "us-east-1"},
        "aws_batch": {"endpoint": strict.url, "iam_endpoint": moto.url, "sts_endpoint": moto.url,
                      "ecr_endpoint": moto.url,
                      "service_role": role["Role"]["Arn"], "runtime": "lithops-batch:1", "runtime_memory": 2048,
                      "runtime_timeout": 120},
        "aws_s3": {"endpoint": moto.url, "storage_bucket": bucket},
    }


def _run_children(moto_url: str, batch_job_id: str, n: int, extra_env: dict[str, str] | None = None) -> None:
    """Do what Batch does for each array child: run the container command with the job's environment."""
    job = _client("batch", moto_url).describe_jobs(jobs=[batch_job_id])["jobs"][0]
    definition = _client("batch", moto_url).describe_job_definitions(
        jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
    env = {e["name"]: e["value"] for e in definition["containerProperties"]["environment"]}
    env.update({e["name"]: e["value"] for e in job["container"]["environment"] if e["name"].startswith("LITHOPS")})
    command = definition["containerProperties"]["command"]
    assert command == WORKER_COMMAND
    base = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PATH", "HOME"))}
    for index in range(n):
        child = {**base, **env, **(extra_env or {}), "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
                 "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        subprocess.run([sys.executable, *command[1:]], env=child, check=True, stdout=subprocess.DEVNULL)


def _square(x: int) -> int:
    return x * x


def test_map_as_an_array_job(config: dict[str, Any], moto: Any) -> None:
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_square, range(5), chunksize=2)
        job_id = fexec.compute.batch_job_id(f"{fexec.executor_id}-M000")
        batch = _client("batch", moto.url)
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        assert job["arrayProperties"]["size"] == 3
        assert job["jobQueue"].endswith("job-queue/lithops-fargate-queue")
        env = {e["name"]: e["value"] for e in job["container"]["environment"]}
        assert env["LITHOPS_BATCH_PAYLOADS"].endswith("/M000/batch_payloads.json")
        definition = batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
        props = definition["containerProperties"]
        assert props["image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/lithops-batch:1"
        assert {"type": "MEMORY", "value": "2048"} in props["resourceRequirements"]
        assert definition["platformCapabilities"] == ["FARGATE"]
        assert definition["timeout"]["attemptDurationSeconds"] == 120
        env_desc = batch.describe_compute_environments(computeEnvironments=["lithops-fargate-env"])
        resources = env_desc["computeEnvironments"][0]["computeResources"]
        assert resources["type"] == "FARGATE" and resources["subnets"]  # found in the default VPC
        assert _client("iam", moto.url).get_role(RoleName=ROLE_NAME)["Role"]["RoleName"] == ROLE_NAME
        _run_children(moto.url, job_id, 3)
        assert fexec.get_result(futures) == [0, 1, 4, 9, 16]
        # the second job reuses the environment, queue and definition
        single = fexec.call_async(_square, 7)
        job2 = batch.describe_jobs(jobs=[fexec.compute.batch_job_id(f"{fexec.executor_id}-A001")])["jobs"][0]
        assert "arrayProperties" not in job2 or not job2["arrayProperties"].get("size")
        assert job2["jobDefinition"] == job["jobDefinition"]
        _run_children(moto.url, job2["jobId"], 1)
        assert single.result() == 49


def _die() -> None:
    os._exit(9)


def test_a_dying_container_child_still_reports(config: dict[str, Any], moto: Any) -> None:
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        future = fexec.call_async(_die, ())
        _run_children(moto.url, fexec.compute.batch_job_id(f"{fexec.executor_id}-A000"), 1)
        with pytest.raises(WorkerDiedError, match="exited with code 9"):
            future.result(timeout=30)


def test_cancel_terminates_the_array_job(config: dict[str, Any], moto: Any) -> None:
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_square, range(3))
        job_key = f"{fexec.executor_id}-M000"
        fexec.compute.cancel({job_key})
        job = _client("batch", moto.url).describe_jobs(jobs=[fexec.compute.batch_job_id(job_key)])["jobs"][0]
        assert job["status"] in ("FAILED", "SUCCEEDED") or job.get("isTerminated") or job.get("statusReason")
        _run_children(moto.url, job["jobId"], 3)  # let the job end, so the executor stops watching it
        fexec.get_result(futures)


def test_runtime_builder_deploys_and_lists(config: dict[str, Any], moto: Any) -> None:
    builder = BatchRuntimeBuilder(config["aws_batch"] | {"runtime_cpu": 1, "env_type": "FARGATE", "env_max_cpus": 4,
                                                          "assign_public_ip": True, "subnets": [],
                                                          "security_groups": []}, config)
    with pytest.raises(ConfigError, match=r"runtime_memory is 1024 MiB, which FARGATE does not offer with 1 vCPU: "
                                          r"choose one of 2048, 3072"):
        builder.deploy(default_runtime_name(), memory=1024)
    meta = builder.deploy(default_runtime_name(), memory=2048)
    assert meta["job_queue"] == "lithops-fargate-queue"
    assert [d["runtime_name"] for d in builder.list() if d["runtime_name"] == default_runtime_name()] == [
        default_runtime_name()]
    builder.delete(default_runtime_name())
    assert default_runtime_name() not in [d["runtime_name"] for d in builder.list()]


# -- what AWS refuses or reports, through the strict layer -----------------------------------------------------
def test_default_runtime_not_in_ecr_is_refused_before_submission(
    config: dict[str, Any], moto: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker, podman or buildah
    config["aws_batch"]["runtime"] = None
    config["aws_batch"]["namespace"] = "nodefault"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"default Batch runtime image .*lithops-batch-default-v\d+:.* is not "
                                               r"in ECR yet.*no docker, podman or buildah.*lithops runtime build"):
            fexec.call_async(_square, 2)
    config["aws_batch"]["runtime"] = "never-pushed:1"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"never-pushed:1 is not in ECR.*lithops runtime build -b aws_batch"):
            fexec.call_async(_square, 2)
    queues = _client("batch", moto.url).describe_job_queues()["jobQueues"]
    assert not [q for q in queues if "nodefault" in q["jobQueueName"]]  # refused before anything was made


def test_a_failed_array_child_fails_its_calls_with_batch_reason(config: dict[str, Any], moto: Any,
                                                                  strict: StrictAWS) -> None:
    pull_error = "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_square, range(6), chunksize=2)
        job_id = fexec.compute.batch_job_id(f"{fexec.executor_id}-M000")
        start = time.monotonic()
        strict.set_job(f"{job_id}:1", "FAILED", "Task failed to start", container_reason=pull_error)
        with pytest.raises(WorkerDiedError, match=r"failed: Task failed to start; CannotPullContainerError"):
            futures[2].result(timeout=30)
        with pytest.raises(WorkerDiedError, match="CannotPullContainerError"):
            futures[3].result(timeout=30)
        assert time.monotonic() - start < 15  # about a poll interval, not execution_timeout + 60 s
        _run_children(moto.url, job_id, 3)  # the other children run (child 1 again: its calls are failed already)
        assert [f.result(timeout=30) for f in (futures[0], futures[1], futures[4], futures[5])] == [0, 1, 16, 25]


def test_a_job_submitted_after_close_is_watched(config: dict[str, Any], moto: Any, strict: StrictAWS) -> None:
    """close() stops the watcher of the jobs so far; a job submitted later gets a watcher of its own."""
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        fexec.compute.close()
        futures = fexec.map(_square, range(2))
        job_id = fexec.compute.batch_job_id(f"{fexec.executor_id}-M000")
        strict.set_job(f"{job_id}:1", "FAILED", "Task failed to start", container_reason="CannotPullContainerError")
        with pytest.raises(WorkerDiedError, match=r"\(child 1\) of .*-M000 failed: Task failed to start"):
            futures[1].result(timeout=30)
        _run_children(moto.url, job_id, 1)
        assert futures[0].result(timeout=30) == 0


def test_an_invalid_compute_environment_fails_waiting_jobs(config: dict[str, Any], strict: StrictAWS) -> None:
    config["aws_batch"]["namespace"] = "invalid-env"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        future = fexec.call_async(_square, 3)
        strict.set_environment("lithops-invalid-env-fargate-env", "INVALID",
                               reason="CLIENT_ERROR - The subnet ID 'subnet-1' does not exist")
        with pytest.raises(WorkerDiedError, match=r"INVALID/ENABLED: CLIENT_ERROR - The subnet ID"):
            future.result(timeout=30)
        assert fexec.compute.batch_job_id(f"{fexec.executor_id}-A000")


@pytest.mark.parametrize("section, message", [
    ({"env_type": "SPOT"}, r"instance_role is required with env_type SPOT"),
    ({"env_type": "EC2", "instance_role": "arn:aws:iam::123456789012:instance-profile/p", "runtime_cpu": 0.5},
     r"runtime_cpu is 0.5; EC2 jobs take a whole number of vCPUs, at least 1"),
    ({"runtime_cpu": 0.3, "runtime_memory": 777}, r"runtime_cpu is 0.3, which FARGATE does not offer: choose one of "
                                                  r"0.25, 0.5, 1, 2, 4, 8, 16"),
    ({"runtime_cpu": 0.5, "runtime_memory": 777}, r"choose one of 1024, 2048, 3072, 4096 MiB"),
    ({"env_type": "SPOT", "instance_role": "arn:aws:iam::1:instance-profile/p", "allocation_strategy": "BEST_FIT"},
     r"needs spot_fleet_role"),
    ({"env_type": "EC2", "instance_role": "arn:aws:iam::1:instance-profile/p",
      "allocation_strategy": "SPOT_CAPACITY_OPTIMIZED"}, r"choose one of BEST_FIT_PROGRESSIVE, BEST_FIT"),
    ({"runtime_cpu": 16, "runtime_memory": 32768, "env_max_cpus": 8}, r"more than env_max_cpus \(8\): no job could "
                                                                      r"ever start"),
])
def test_environment_settings_aws_refuses_are_config_errors(config: dict[str, Any], strict: StrictAWS,
                                                            section: dict[str, Any], message: str) -> None:
    config["aws_batch"].update(section)
    refused = len(strict.refused)
    with pytest.raises(ConfigError, match=message):
        lithops.FunctionExecutor(config=config, log_level=None)
    assert len(strict.refused) == refused  # nothing reached AWS


def test_spot_and_ec2_environments_are_created_as_aws_requires(config: dict[str, Any], moto: Any,
                                                               strict: StrictAWS) -> None:
    iam = _client("iam", moto.url)
    try:
        profile = iam.create_instance_profile(InstanceProfileName="ecsInstanceRole")["InstanceProfile"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        profile = iam.get_instance_profile(InstanceProfileName="ecsInstanceRole")["InstanceProfile"]["Arn"]
    for env_type in ("SPOT", "EC2"):
        config["aws_batch"].update(env_type=env_type, instance_role=profile, namespace="ec2", runtime_cpu=None)
        with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
            fexec.call_async(_square, 2)
            job_id = fexec.compute.batch_job_id(f"{fexec.executor_id}-A000")
            _run_children(moto.url, job_id, 1)
        batch = _client("batch", moto.url)
        env = batch.describe_compute_environments(
            computeEnvironments=[f"lithops-ec2-{env_type.lower()}-env"])["computeEnvironments"][0]
        resources = env["computeResources"]
        assert resources["instanceRole"] == profile
        assert resources["allocationStrategy"] == ("SPOT_CAPACITY_OPTIMIZED" if env_type == "SPOT"
                                                   else "BEST_FIT_PROGRESSIVE")
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        definition = batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
        assert {"type": "VCPU", "value": "1"} in definition["containerProperties"]["resourceRequirements"]
        assert definition["platformCapabilities"] == ["EC2"]
    assert strict.refused == []


def test_max_workers_namespace_and_container_vcpus(config: dict[str, Any], moto: Any) -> None:
    config["aws_batch"].update(max_workers=2, namespace="team-a", container_vcpus=1, runtime_memory=2048)
    batch = _client("batch", moto.url)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_square, range(5))
        job = batch.describe_jobs(jobs=[fexec.compute.batch_job_id(f"{fexec.executor_id}-M000")])["jobs"][0]
        assert job["arrayProperties"]["size"] == 2
        assert job["jobQueue"].endswith("job-queue/lithops-team-a-fargate-queue")
        definition = batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
        assert definition["jobDefinitionName"].startswith("lithops-team-a-lithops-batch-")
        assert {"type": "VCPU", "value": "1"} in definition["containerProperties"]["resourceRequirements"]
        _run_children(moto.url, job["jobId"], 2)
        assert fexec.get_result(futures) == [0, 1, 4, 9, 16]
    config["aws_batch"].update(max_workers=None, env_max_cpus=3)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.compute.max_workers == 3  # env_max_cpus / runtime_cpu, as Lithops computes it


def test_a_job_batch_cancels_in_runnable_fails_with_its_reason(config: dict[str, Any], strict: StrictAWS) -> None:
    config["aws_batch"]["namespace"] = "stuck"
    reason = ("MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher "
              "than that can be met by the CE(s) attached to the job queue.")
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        future = fexec.call_async(_square, 4)
        queue = [r for r in strict.requests["/v1/createjobqueue"] if r["jobQueueName"] == "lithops-stuck-fargate-queue"]
        assert {(a["reason"], a["state"], a["action"]) for a in queue[0]["jobStateTimeLimitActions"]} == {
            ("MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE", "RUNNABLE", "CANCEL"),
            ("MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT", "RUNNABLE", "CANCEL")}
        strict.set_job(fexec.compute.batch_job_id(f"{fexec.executor_id}-A000"), "FAILED", reason)  # Batch cancels it
        with pytest.raises(WorkerDiedError, match=r"failed: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"):
            future.result(timeout=30)
