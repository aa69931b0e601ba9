"""Fixtures of the lithops-aliyun tests: a local OSS service and a local Function Compute 3.0 API on 127.0.0.1,
shared by the session, and test credentials in the environment (never a developer's own)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lithops_aliyun.testing.oss_server import LocalOSSServer

REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"
KEY_ID, KEY_SECRET = "LTAI5tTestKeyId0001", "test-secret-0001"
ROLE = f"acs:ram::{ACCOUNT}:role/lithops-fc-role"


# The SDKs' credential chain sees the test keys only. Set when this file is imported, before the test modules are:
# alibabacloud_credentials reads some of these variables once, when it is first imported.
os.environ.update({"ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
                   "ALIBABA_CLOUD_CREDENTIALS_FILE": "/nonexistent/alibabacloud-credentials",
                   "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"})
for _name in ("ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_REGION_ID", "ALIBABA_CLOUD_PROFILE",
              "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_ECS_METADATA", "FC_REGION"):
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Keep a developer's own Lithops config and job log out of the tests."""
    empty = tmp_path / "empty_config.yaml"
    empty.write_text("")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("LITHOPS_WORKER_CONFIG", raising=False)


@pytest.fixture(scope="session")
def oss_server() -> Iterator[LocalOSSServer]:
    """One local OSS service for the session."""
    with LocalOSSServer({KEY_ID: KEY_SECRET}, region=REGION) as server:
        yield server


@pytest.fixture
def oss_section(oss_server: LocalOSSServer) -> dict[str, Any]:
    """An ``aliyun_oss`` section pointing at the local OSS, with a fresh bucket name (not created)."""
    return {"endpoint": oss_server.url, "region": REGION, "storage_bucket": f"lithops-test-{uuid.uuid4().hex[:8]}"}


#: The image the local FC can "pull": its command runs with this interpreter and this environment's packages.
IMAGE = "registry.cn-hangzhou.aliyuncs.com/lithops-test/lithops-fc:1"
#: An image built from another Python, whose python3 is that version's interpreter (when this machine has one).
OTHER_PYTHON = "3.10" if sys.version_info[:2] != (3, 10) else "3.12"
OTHER_PYTHON_IMAGE = f"registry.cn-hangzhou.aliyuncs.com/lithops-test/lithops-fc:py{OTHER_PYTHON}"


@pytest.fixture(scope="session")
def fc_server() -> Iterator[Any]:
    """One local Function Compute API for the session (8 instances at most, to keep the machine usable)."""
    from lithops_aliyun.testing.fc_server import LocalFCServer, find_python

    images = {IMAGE: None, OTHER_PYTHON_IMAGE: find_python(OTHER_PYTHON)}
    with LocalFCServer({KEY_ID: KEY_SECRET}, ACCOUNT, region=REGION, images=images, instance_limit=8) as server:
        yield server


def fc_config(fc_url: str, oss_url: str, bucket: str, **section: Any) -> dict[str, Any]:
    """A full Lithops config running aliyun_fc (custom-container mode) and aliyun_oss on the local services."""
    return {
        "lithops": {"backend": "aliyun_fc", "storage": "aliyun_oss", "monitoring_interval": 0.1},
        "aliyun": {"region": REGION, "account_id": ACCOUNT},
        "aliyun_fc": {"endpoint": fc_url, "role_arn": ROLE, "deploy_mode": "custom-container", "runtime": IMAGE,
                      "runtime_memory": 512, "runtime_timeout": 60, "invoke_pool_threads": 16, **section},
        "aliyun_oss": {"endpoint": oss_url, "storage_bucket": bucket},
    }


def make_bucket(oss_server: Any, bucket: str) -> None:
    """Create a bucket on the local OSS, through the storage backend."""
    from lithops_aliyun.oss.storage import OSSStorage

    OSSStorage({"endpoint": oss_server.url, "region": REGION}).create_bucket(bucket)
