"""The lithops.testing contract suites against the local OSS service and the local Function Compute API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conftest import fc_config, make_bucket
from lithops.testing import ComputeContract, PluginContract, StorageContract
from lithops_aliyun.oss.storage import OSSStorage


class TestAliyunPlugin(PluginContract):
    package = "lithops-aliyun"
    compute_backends = {"aliyun_fc"}
    storage_backends = {"aliyun_oss"}


class TestOSSStorage(StorageContract):
    @pytest.fixture
    def storage(self, oss_section: dict[str, Any]) -> OSSStorage:
        # small parts, so the contract's 6 MiB file goes through a multipart upload
        return OSSStorage(dict(oss_section, multipart_threshold=1024 * 1024, multipart_chunksize=1024 * 1024))

    @pytest.fixture
    def bucket(self, storage: OSSStorage) -> str:
        bucket = storage.default_bucket()
        storage.create_bucket(bucket)
        return bucket


@pytest.fixture(scope="module")
def class_bucket(oss_server: Any) -> str:
    bucket = f"lithops-fc-{uuid.uuid4().hex[:8]}"
    make_bucket(oss_server, bucket)
    return bucket


class TestFCCompute(ComputeContract):
    """Function Compute through the local FC API (instances are local processes) and the local OSS."""

    @pytest.fixture
    def config(self, fc_server: Any, oss_server: Any, class_bucket: str) -> dict[str, Any]:
        # max_workers within the local FC's 8 instances, so calls queue (the contract then checks cancel)
        return fc_config(fc_server.url, oss_server.url, class_bucket, max_workers=8)
