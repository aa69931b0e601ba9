"""gcp_storage against gcp-storage-emulator: the whole storage contract, resumable uploads, the default bucket,
gs:// data maps and errors."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import PROJECT, REGION, gcs_section, new_bucket
from lithops.errors import BackendError, ConfigError
from lithops.testing import StorageContract
from lithops_gcp.gcs.storage import GCSStorage, default_bucket_name


class TestGCSStorage(StorageContract):
    @pytest.fixture
    def storage(self) -> GCSStorage:
        # small parts, so that the contract's 6 MiB upload is a resumable upload in several parts
        return GCSStorage(gcs_section(chunk_size=1024 * 1024))

    @pytest.fixture
    def bucket(self, storage: GCSStorage) -> str:
        bucket = new_bucket()
        storage.create_bucket(bucket)
        return bucket


def test_default_bucket_is_stable_and_created() -> None:
    """Without storage_bucket, lithops-<project>-<region> is made on first use and reused after."""
    first = GCSStorage(gcs_section())
    bucket = first.default_bucket()
    assert bucket == default_bucket_name(PROJECT, REGION) == f"lithops-{PROJECT}-{REGION}"
    first.put_object(bucket, "k", b"v")
    assert GCSStorage(gcs_section()).default_bucket() == bucket
    assert GCSStorage(gcs_section()).get_object(bucket, "k") == b"v"


def test_long_default_bucket_name_is_hashed_to_a_valid_one() -> None:
    name = default_bucket_name("p" * 30, "northamerica-northeast1")
    assert len(name) <= 63 and name == default_bucket_name("p" * 30, "northamerica-northeast1")


def test_missing_credentials_file_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Outside the emulator, a credentials_path that is no file says so and what to do."""
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    with pytest.raises(ConfigError, match=r"gcp.credentials_path is .*not a file.*service account key"):
        GCSStorage(gcs_section(credentials_path=str(tmp_path / "missing.json")))
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "nonsense"}')
    with pytest.raises(ConfigError, match="not a usable credentials file"):
        GCSStorage(gcs_section(credentials_path=str(bad)))


def test_no_credentials_at_all_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    with pytest.raises(ConfigError, match=r"no Google Cloud credentials found.*GOOGLE_APPLICATION_CREDENTIALS"):
        GCSStorage(gcs_section())


def test_emulator_down_is_a_clear_error_without_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    from lithops_gcp.testing.emulators import free_port

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    storage = GCSStorage(gcs_section(timeout=5, retry_timeout=2))
    start = time.monotonic()
    with pytest.raises(BackendError, match=r"cannot reach http://127\.0\.0\.1"):
        storage.put_object("some-bucket", "k", b"v")
    assert time.monotonic() - start < 60
