"""ibm_cos: the storage contract against moto's S3 with HMAC keys and with an IAM API key (bearer tokens from a
local IAM token service, checked by COS's stand-in in front of moto), token refresh, and the faults."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import API_KEY, hmac_section, iam_section, new_bucket
from lithops.errors import BackendError, ConfigError
from lithops.testing import StorageContract
from lithops_aws.testing.moto_server import free_port
from lithops_ibm.cos.storage import COSAccessError, COSStorage
from lithops_ibm.iam import IBMCredentialsError
from lithops_ibm.testing.cos_relay import BearerCOS
from lithops_ibm.testing.iam import FakeIAM

_SMALL_PARTS = {"multipart_threshold": 5 * 1024 * 1024, "multipart_chunksize": 5 * 1024 * 1024}


class TestCOSWithHMAC(StorageContract):
    @pytest.fixture
    def storage(self, moto: Any) -> COSStorage:
        return COSStorage(hmac_section(moto.url, storage_bucket=new_bucket(), **_SMALL_PARTS))

    @pytest.fixture
    def bucket(self, storage: COSStorage) -> str:
        bucket = storage.default_bucket()
        storage.create_bucket(bucket)
        return bucket


class TestCOSWithIAMKey(StorageContract):
    # COS creates buckets for IAM tokens only with the service instance id header, which Lithops 3.x never sent:
    # with an API key the bucket is the user's (storage_bucket is required)
    skip_capabilities = {"create_bucket"}

    @pytest.fixture
    def storage(self, moto: Any, iam: FakeIAM, bearer_cos: BearerCOS) -> COSStorage:
        bucket = new_bucket()
        COSStorage(hmac_section(moto.url)).create_bucket(bucket)
        return COSStorage(iam_section(iam.url, bearer_cos.url, bucket, **_SMALL_PARTS))

    @pytest.fixture
    def bucket(self, storage: COSStorage) -> str:
        return storage.default_bucket()


def test_iam_token_is_refreshed_before_it_expires(moto: Any) -> None:
    """Tokens live 12 s; the SDK fetches a new one before the old one expires, so no request is ever refused."""
    with FakeIAM({API_KEY}, token_lifetime=12) as iam, BearerCOS(iam, moto.url) as cos:  # type: ignore[attr-defined]
        bucket = new_bucket()
        COSStorage(hmac_section(moto.url)).create_bucket(bucket)
        storage = COSStorage(iam_section(iam.url, cos.url, bucket))
        storage.put_object(bucket, "a", b"1")
        first = list(iam.issued)
        time.sleep(12.5)  # the first token has expired by now
        storage.put_object(bucket, "b", b"2")
        assert storage.get_object(bucket, "a") == b"1"
        assert len(first) == 1 and len(iam.issued) >= 2
        assert iam.check(f"Bearer {first[0]}") == "the IAM token has expired"
        assert cos.refused == 0


def test_requests_without_a_valid_token_are_refused(moto: Any, bearer_cos: BearerCOS) -> None:
    """The stand-in refuses what COS refuses: an HMAC-signed request where an IAM token is expected."""
    storage = COSStorage(hmac_section(bearer_cos.url, storage_bucket="any", max_attempts=1))
    with pytest.raises(COSAccessError, match=r"COS refused the request.*access_key_id"):
        storage.put_object("any", "k", b"x")


def test_invalid_api_key_is_a_clear_error(iam: FakeIAM, bearer_cos: BearerCOS) -> None:
    storage = COSStorage({**iam_section(iam.url, bearer_cos.url, "bucket"), "api_key": "revoked-key-xyz"})
    with pytest.raises(IBMCredentialsError, match=r"IAM refused the API key.*BXNIM0415E.*ibm.iam_api_key"):
        storage.get_object("bucket", "k")


def test_iam_endpoint_down_is_a_clear_error(bearer_cos: BearerCOS) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    storage = COSStorage({**iam_section(url, bearer_cos.url, "bucket"), "api_key": "key-for-down-iam"})
    with pytest.raises(BackendError, match=f"could not connect to IAM at {url}"):
        storage.get_object("bucket", "k")


def test_cos_down_is_a_clear_error_without_hanging() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    storage = COSStorage(hmac_section(url, storage_bucket="b", max_attempts=2, connect_timeout=1))
    start = time.monotonic()
    with pytest.raises(BackendError, match=rf"could not connect to {url}.*ibm_cos.endpoint"):
        storage.put_object("b", "k", b"x")
    assert time.monotonic() - start < 30


def test_default_bucket_is_stable_and_created_with_hmac_keys(moto: Any) -> None:
    first = COSStorage(hmac_section(moto.url)).default_bucket()
    assert first.startswith("lithops-us-south-")
    storage = COSStorage(hmac_section(moto.url))
    assert storage.default_bucket() == first
    storage.head_bucket(first)  # exists


def test_endpoints_follow_the_region() -> None:
    storage = COSStorage({"region": "eu-de", **{"access_key_id": "a", "secret_access_key": "b"}})
    assert storage.config["endpoint"] == "https://s3.eu-de.cloud-object-storage.appdomain.cloud"
    assert storage.config["private_endpoint"] == "https://s3.private.eu-de.cloud-object-storage.appdomain.cloud"
    assert storage.endpoint == storage.config["endpoint"]  # the client uses the public one


@pytest.mark.parametrize("section, message", [
    ({"region": "us-south"}, "has no credentials"),
    ({"region": "us-south", "access_key_id": "a"}, "access_key_id is set but secret_access_key is not"),
    ({"access_key_id": "a", "secret_access_key": "b"}, "needs region"),
    ({"region": "us-south", "api_key": "k"}, "needs storage_bucket"),
])
def test_bad_sections_are_refused(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        COSStorage(section)


def test_ibm_section_key_fills_in_cos(moto: Any, iam: FakeIAM, bearer_cos: BearerCOS) -> None:
    """ibm.iam_api_key and ibm.iam_endpoint serve ibm_cos through the executor's config."""
    import lithops

    bucket = new_bucket()
    COSStorage(hmac_section(moto.url)).create_bucket(bucket)
    config = {"lithops": {"backend": "localhost", "storage": "ibm_cos"},
              "ibm": {"iam_api_key": API_KEY, "iam_endpoint": iam.url, "region": "us-south"},
              "ibm_cos": {"endpoint": bearer_cos.url, "storage_bucket": bucket}}
    storage = lithops.Storage(config=config)
    storage.put_object(bucket, "x", b"hello")
    assert storage.get_object(bucket, "x") == b"hello"


def test_a_key_revoked_while_in_use_is_a_clear_error_at_the_next_token(moto: Any) -> None:
    """Tokens already issued stay valid until they expire; the next token request names the revoked key."""
    with FakeIAM({"key-to-revoke-01"}, token_lifetime=11) as iam, BearerCOS(iam, moto.url) as cos:  # type: ignore[attr-defined]
        bucket = new_bucket()
        COSStorage(hmac_section(moto.url)).create_bucket(bucket)
        storage = COSStorage({**iam_section(iam.url, cos.url, bucket), "api_key": "key-to-revoke-01"})
        storage.put_object(bucket, "a", b"1")
        iam.revoke("key-to-revoke-01")
        time.sleep(1.5)  # the token is now within the SDK's 10 s of its expiry: a new one is asked for
        with pytest.raises(IBMCredentialsError, match="IAM refused the API key"):
            storage.get_object(bucket, "a")
