"""The lithops.testing contract suites against real local servers: moto's S3, and a local Lambda service."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conftest import lambda_config, make_bucket
from lithops.testing import ComputeContract, StorageContract
from lithops_aws.s3.storage import S3Storage


class TestS3Storage(StorageContract):
    @pytest.fixture
    def storage(self, s3_section: dict[str, Any]) -> S3Storage:
        return S3Storage(dict(s3_section, multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))

    @pytest.fixture
    def bucket(self, storage: S3Storage) -> str:
        bucket = storage.default_bucket()
        storage.create_bucket(bucket)
        return bucket


@pytest.fixture(scope="module")
def class_bucket(moto_session: Any) -> str:
    bucket = f"lithops-lambda-{uuid.uuid4().hex[:8]}"
    make_bucket(moto_session.url, bucket)
    return bucket


class TestLambdaCompute(ComputeContract):
    """Lambda through the local Invoke service and moto's control plane and S3."""

    # Event invocations are fire and forget: an invocation that fails outside its calls (before any status can
    # be written) is not seen by the client, whose calls then fail at their execution timeout.
    skip_capabilities = {"worker_failure"}

    @pytest.fixture
    def config(self, moto_session: Any, lambda_server: Any, class_bucket: str) -> dict[str, Any]:
        return lambda_config(moto_session.url, lambda_server.url, class_bucket)
