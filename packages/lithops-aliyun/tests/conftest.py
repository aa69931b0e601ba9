"""Fixtures of the lithops-aliyun tests: a local OSS service and a local Function Compute 3.0 API on 127.0.0.1,
shared by the session, and test credentials in the environment (never a developer's own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lithops_aliyun.testing.oss_server import LocalOSSServer

REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"
KEY_ID, KEY_SECRET = "LTAI5tTestKeyId0001", "test-secret-0001"
ROLE = f"acs:ram::{ACCOUNT}:role/lithops-fc-role"


@pytest.fixture(scope="session", autouse=True)
def _test_credentials() -> Iterator[None]:
    """The SDKs' credential chain sees the test keys only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
        mp.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
        mp.setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", "/nonexistent/alibabacloud-credentials")
        for name in ("ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_REGION_ID", "ALIBABA_CLOUD_PROFILE",
                     "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_ECS_METADATA", "FC_REGION"):
            mp.delenv(name, raising=False)
        yield


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
