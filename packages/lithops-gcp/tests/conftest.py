"""Fixtures of the lithops-gcp tests: the Cloud Storage emulator (one per session), the Pub/Sub emulator where the
machine has gcloud, and an environment with no Google credentials of the developer's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lithops.testing import isolate_from_user_config
from lithops_gcp.testing.emulators import PubSubEmulator, StorageEmulator, pubsub_emulator_path

PROJECT = "lithops-test"
REGION = "us-east1"


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[StorageEmulator]:
    """gcp-storage-emulator, in memory, for the whole session."""
    emulator = StorageEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session", autouse=True)
def _google_env(storage_emulator: StorageEmulator, tmp_path_factory: Any) -> Iterator[None]:
    """The storage emulator in STORAGE_EMULATOR_HOST (the worker processes the tests start inherit it), and never
    a developer's own Google credentials or gcloud config."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", f"http://{storage_emulator.host}")
        mp.setenv("CLOUDSDK_CONFIG", str(tmp_path_factory.mktemp("gcloud")))
        mp.setenv("NO_GCE_CHECK", "True")  # no probing of a metadata server for credentials
        for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Keep a developer's own Lithops config and job log out of the tests."""
    isolate_from_user_config(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[PubSubEmulator]:
    """The Pub/Sub emulator of the machine's gcloud CLI (skipped where gcloud is absent, as on CI machines)."""
    path = pubsub_emulator_path()
    if path is None:
        pytest.skip("the Pub/Sub emulator ships with google-cloud-cli, which is not installed here (gcloud is not on "
                    "PATH or has no platform/pubsub-emulator)")
    emulator = PubSubEmulator(path).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def new_bucket(prefix: str = "lithops-test") -> str:
    """A fresh bucket name."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def gcs_section(**keys: Any) -> dict[str, Any]:
    """A ``gcp_storage`` section for the emulator."""
    return {"project_name": PROJECT, "region": REGION, **keys}


@pytest.fixture(scope="session")
def fake_run() -> Iterator[Any]:
    """The fake Cloud Run Admin API, with the default runtime's image pushed."""
    from lithops_gcp.gcp_cloudrun.services import default_runtime_name
    from lithops_gcp.testing.fake_run import FakeCloudRun

    with FakeCloudRun(PROJECT, [REGION]) as api:
        api.push_image(f"{REGION}-docker.pkg.dev/{PROJECT}/lithops/{default_runtime_name()}:{_version()}")
        yield api


def _version() -> str:
    from lithops_gcp import __version__

    return __version__


def cloudrun_config(api_url: str, bucket: str, **section: Any) -> dict[str, Any]:
    """A full Lithops config running gcp_cloudrun through the fake, on the storage emulator."""
    return {
        "lithops": {"backend": "gcp_cloudrun", "storage": "gcp_storage", "monitoring_interval": 0.1},
        "gcp": {"project_name": PROJECT, "region": REGION},
        "gcp_cloudrun": {"api_endpoint": api_url, "runtime_timeout": 300, "max_workers": 16, **section},
        "gcp_storage": {"storage_bucket": bucket},
    }


def make_bucket(bucket: str) -> str:
    """Create a bucket on the storage emulator."""
    from lithops_gcp.gcs.storage import GCSStorage

    GCSStorage(gcs_section()).create_bucket(bucket)
    return bucket


def functions_config(api_url: str, bucket: str, **section: Any) -> dict[str, Any]:
    """A full Lithops config running gcp_functions through the fake, on the storage emulator."""
    return {
        "lithops": {"backend": "gcp_functions", "storage": "gcp_storage", "monitoring_interval": 0.1},
        "gcp": {"project_name": PROJECT, "region": REGION},
        "gcp_functions": {"api_endpoint": api_url, "runtime_timeout": 300, "max_workers": 16, **section},
        "gcp_storage": {"storage_bucket": bucket},
    }
