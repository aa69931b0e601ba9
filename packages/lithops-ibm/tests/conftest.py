"""Fixtures of the lithops-ibm tests: moto's S3 server (started through lithops-aws's test helper; moto is a
test-only dependency), a local IAM token service, COS's bearer-token check in front of moto, and the local
Code Engine API. No IBM Cloud account or network is needed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lithops.testing import isolate_from_user_config
from lithops_aws.testing.moto_server import MotoServer
from lithops_ibm.testing.cos_relay import BearerCOS
from lithops_ibm.testing.iam import FakeIAM

API_KEY = "local-api-key-0123456789"
HMAC = {"access_key_id": "cos-hmac-key-id", "secret_access_key": "cos-hmac-secret"}


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Keep a developer's own Lithops config, state and AWS settings out of the tests."""
    isolate_from_user_config(monkeypatch, tmp_path)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """One moto server (S3) for the whole session."""
    with MotoServer(subprocess=True) as server:
        yield server


@pytest.fixture(scope="session")
def iam() -> Iterator[FakeIAM]:
    """The local IAM token service, knowing API_KEY."""
    with FakeIAM({API_KEY}) as service:
        yield service  # type: ignore[misc]


@pytest.fixture(scope="session")
def bearer_cos(iam: FakeIAM, moto: MotoServer) -> Iterator[BearerCOS]:
    """COS's S3 endpoint as reached with IAM tokens."""
    with BearerCOS(iam, moto.url) as proxy:
        yield proxy


def new_bucket() -> str:
    """A fresh bucket name."""
    return f"lithops-test-{uuid.uuid4().hex[:10]}"


def hmac_section(moto_url: str, **keys: Any) -> dict[str, Any]:
    """An ``ibm_cos`` section with HMAC keys, pointing at moto."""
    return {"endpoint": moto_url, "region": "us-south", **HMAC, **keys}


def iam_section(iam_url: str, cos_url: str, bucket: str, **keys: Any) -> dict[str, Any]:
    """An ``ibm_cos`` section with an IAM API key, pointing at the local IAM and the bearer-checking endpoint."""
    return {"endpoint": cos_url, "region": "us-south", "api_key": API_KEY, "iam_endpoint": iam_url,
            "storage_bucket": bucket, **keys}


@pytest.fixture(scope="session")
def code_engine(iam: FakeIAM) -> Iterator[Any]:
    """The local Code Engine API, whose job runs run as local processes."""
    from lithops_ibm.testing.code_engine import FakeCodeEngine

    with FakeCodeEngine(iam, concurrency=4) as service:
        yield service


@pytest.fixture(scope="session")
def ce_bucket(moto: MotoServer) -> str:
    """A bucket of the Code Engine tests."""
    from lithops_ibm.cos.storage import COSStorage

    bucket = new_bucket()
    COSStorage(hmac_section(moto.url)).create_bucket(bucket)
    return bucket


def ce_config(iam_url: str, ce_url: str, moto_url: str, bucket: str, **section: Any) -> dict[str, Any]:
    """A full Lithops config running code_engine through the local API, with ibm_cos on moto (HMAC keys)."""
    return {
        "lithops": {"backend": "code_engine", "storage": "ibm_cos", "monitoring_interval": 0.1},
        "ibm": {"iam_api_key": API_KEY, "iam_endpoint": iam_url, "region": "us-south"},
        # two instances per job run at most: each is a Python process that imports Lithops and boto3
        "code_engine": {"endpoint": f"{ce_url}/v2", "runtime": "docker.io/lithops/ce-runtime:1", "runtime_timeout": 120,
                        "max_workers": 2, "worker_processes": 4, "project_name": "lithops-tests", **section},
        "ibm_cos": hmac_section(moto_url, storage_bucket=bucket),
    }
