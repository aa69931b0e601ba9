"""aliyun_oss beyond the storage contract: endpoints, the default bucket, credentials and faults."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import KEY_ID, REGION
from lithops.errors import BackendError
from lithops.storage.utils import StorageNoSuchBucketError
from lithops_aliyun.oss.storage import OSSStorage


def test_workers_in_fc_of_the_region_use_the_internal_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OSSStorage({"region": REGION}).endpoint == f"oss-{REGION}.aliyuncs.com"
    monkeypatch.setenv("FC_REGION", REGION)  # what Function Compute sets in its instances
    assert OSSStorage({"region": REGION}).endpoint == f"oss-{REGION}-internal.aliyuncs.com"
    assert OSSStorage({"region": REGION, "internal_endpoint": False}).endpoint == f"oss-{REGION}.aliyuncs.com"
    assert OSSStorage({"region": "cn-beijing"}).endpoint == "oss-cn-beijing.aliyuncs.com"  # another region


def test_the_default_bucket_has_a_stable_name_and_is_created_when_absent(oss_server: Any) -> None:
    section = {"endpoint": oss_server.url, "region": REGION, "account_id": "5555666677778888"}
    bucket = OSSStorage(section).default_bucket()
    assert bucket == f"lithops-{REGION}-5555666677778888"
    assert bucket in oss_server.buckets
    assert OSSStorage(section).default_bucket() == bucket
    without_account = OSSStorage({"endpoint": oss_server.url, "region": REGION}).default_bucket()
    assert without_account.startswith(f"lithops-{REGION}-") and without_account in oss_server.buckets


def test_a_configured_bucket_is_never_created(oss_server: Any) -> None:
    storage = OSSStorage({"endpoint": oss_server.url, "region": REGION, "storage_bucket": "lithops-misspelt"})
    assert storage.default_bucket() == "lithops-misspelt"
    with pytest.raises(StorageNoSuchBucketError):
        storage.put_object("lithops-misspelt", "k", b"v")


def test_wrong_keys_are_a_clear_error_with_osss_message(oss_server: Any, oss_section: dict[str, Any]) -> None:
    storage = OSSStorage(dict(oss_section, access_key_id=KEY_ID, access_key_secret="wrong"))
    with pytest.raises(BackendError, match=r"OSS refused .*SignatureDoesNotMatch: The request signature we "
                                           r"calculated does not match.*aliyun.access_key_id"):
        storage.create_bucket(oss_section["storage_bucket"])
