"""The lithops.testing contract suites against the local OSS service and the local Function Compute API."""

from __future__ import annotations

from typing import Any

import pytest

from lithops.testing import PluginContract, StorageContract
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
