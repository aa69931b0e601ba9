"""Any storage backend the pods reach works: k8s with S3 (moto's server standing in for MinIO or S3, through
``aws_s3``'s ``endpoint``), when lithops-aws and moto are installed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import make_config
from lithops import FunctionExecutor

pytest.importorskip("lithops_aws", reason="lithops-aws provides the aws_s3 storage backend")
pytest.importorskip("moto.server", reason="moto's server stands in for S3")


@pytest.fixture(scope="module")
def s3(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    from lithops_aws.testing.moto_server import MotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch_module.setenv(key, value)
    server = MotoServer(subprocess=True).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_map_reduce_and_a_data_map_over_s3(cluster: Any, storage_root: str, s3: str) -> None:
    import boto3

    bucket = f"lithops-k8s-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3, region_name="us-east-1").create_bucket(Bucket=bucket)
    config = make_config(cluster, storage_root)
    config["lithops"]["storage"] = "aws_s3"
    config["aws_s3"] = {"endpoint": s3, "storage_bucket": bucket, "region": "us-east-1",
                        "access_key_id": "testing", "secret_access_key": "testing"}
    with FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map_reduce(lambda x: x + 1, range(5), sum).get_result(timeout=60) == 15
        fexec.storage.put_object(bucket, "words/a.txt", "a b c\nd e\n")
        counted = fexec.map_reduce(lambda obj: len(obj.data_stream.read().split()), f"s3://{bucket}/words/",
                                   sum).get_result(timeout=60)
        assert counted == 5
