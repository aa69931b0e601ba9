"""Fixtures of the lithops-aws tests: a real moto server on 127.0.0.1 (S3, IAM, STS, ECR, Lambda control plane,
Batch, EC2), reset between tests, and dummy credentials in the environment (moto accepts any)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lithops_aws.testing.moto_server import MotoServer

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session", autouse=True)
def _dummy_credentials() -> Iterator[None]:
    """Credentials for boto3's chain; never a developer's own ~/.aws."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in DUMMY_ENV.items():
            mp.setenv(k, v)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                  "AWS_ENDPOINT_URL_LAMBDA", "AWS_REGION"):
            mp.delenv(k, raising=False)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        yield


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Keep a developer's own Lithops config out of the tests."""
    empty = tmp_path / "empty_config.yaml"
    empty.write_text("")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(empty))
    monkeypatch.delenv("LITHOPS_WORKER_CONFIG", raising=False)


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    """One moto server for the whole session."""
    server = MotoServer(subprocess=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(moto_session: MotoServer) -> Iterator[MotoServer]:
    """The moto server, empty at the start of the test."""
    moto_session.reset()
    yield moto_session


@pytest.fixture
def s3_section(moto: MotoServer) -> dict[str, Any]:
    """An ``aws_s3`` config section pointing at moto, with a fresh bucket name (not yet created)."""
    return {"endpoint": moto.url, "region": "us-east-1", "storage_bucket": f"lithops-test-{uuid.uuid4().hex[:8]}"}


@pytest.fixture(scope="session")
def lambda_server(moto_session: MotoServer) -> Iterator[Any]:
    """The local Lambda service (Invoke runs the real handler; the rest goes to moto)."""
    from lithops_aws.testing.lambda_server import LocalLambdaServer

    server = LocalLambdaServer(moto_session.url, concurrency=4).start()
    try:
        yield server
    finally:
        server.stop()


def lambda_config(moto_url: str, lambda_url: str, bucket: str, **section: Any) -> dict[str, Any]:
    """A full Lithops config running aws_lambda through the local servers."""
    return {
        "lithops": {"backend": "aws_lambda", "storage": "aws_s3", "monitoring_interval": 0.1},
        "aws": {"region": "us-east-1"},
        "aws_lambda": {"endpoint": lambda_url, "iam_endpoint": moto_url, "sts_endpoint": moto_url,
                       "ecr_endpoint": moto_url, "runtime_memory": 256, "runtime_timeout": 60,
                       "invoke_pool_threads": 16, **section},
        "aws_s3": {"endpoint": moto_url, "storage_bucket": bucket},
    }


def make_bucket(moto_url: str, bucket: str) -> None:
    """Create a bucket on moto."""
    import boto3

    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1").create_bucket(Bucket=bucket)
