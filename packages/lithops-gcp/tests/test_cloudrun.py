"""gcp_cloudrun through the google-cloud-run client (REST) against the fake Admin API, which runs our real Cloud Run
entry point as a local process; storage on gcp-storage-emulator."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import cloudrun_config, make_bucket, new_bucket
from lithops.testing import ComputeContract


@pytest.fixture(scope="module")
def class_bucket() -> str:
    return make_bucket(new_bucket("lithops-run"))


class TestCloudRunCompute(ComputeContract):
    @pytest.fixture
    def config(self, fake_run: Any, class_bucket: str) -> dict[str, Any]:
        return cloudrun_config(fake_run.url, class_bucket)
