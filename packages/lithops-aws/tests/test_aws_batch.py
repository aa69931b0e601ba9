"""aws_batch: control-plane calls against moto's server; the array children run locally as Batch would run them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import boto3
import pytest

import lithops
from conftest import make_bucket
from lithops.errors import WorkerDiedError
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


@pytest.fixture
def config(moto: Any) -> dict[str, Any]:
    bucket = f"lithops-batch-{uuid.uuid4().hex[:8]}"
    make_bucket(moto.url, bucket)
    iam = _client("iam", moto.url)
    try:
        role = iam.get_role(RoleName="batch-service")
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")
    return {
        "lithops": {"backend": "aws_batch", "storage": "aws_s3", "monitoring_interval": 0.1},
        "aws": {"region": "us-east-1"},
        "aws_batch": {"endpoint": moto.url, "iam_endpoint": moto.url, "sts_endpoint": moto.url,
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
    meta = builder.deploy(default_runtime_name(), memory=1024)
    assert meta["job_queue"] == "lithops-fargate-queue"
    assert [d["runtime_name"] for d in builder.list() if d["runtime_name"] == default_runtime_name()] == [
        default_runtime_name()]
    builder.delete(default_runtime_name())
    assert default_runtime_name() not in [d["runtime_name"] for d in builder.list()]
