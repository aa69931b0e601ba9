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


def test_no_credentials_anywhere_is_a_clear_config_error(oss_server: Any, tmp_path: Any) -> None:
    """No keys in the config, none in the environment or credentials file: say where to put them (a fresh process,
    as Alibaba's credentials library reads the environment once).
    """
    import os
    import subprocess
    import sys

    script = f"""
from lithops.errors import ConfigError
from lithops_aliyun.oss.storage import OSSStorage
from lithops_aliyun.fc.functions import FCFunctions
for make, call in ((lambda: OSSStorage({{"endpoint": "{oss_server.url}", "region": "{REGION}"}}),
                    lambda s: s.head_bucket("lithops-any")),
                   (lambda: FCFunctions({{"endpoint": "http://127.0.0.1:9", "region": "{REGION}"}}),
                    lambda f: f.get("any"))):
    try:
        call(make())
    except ConfigError as exc:
        print("CONFIG ERROR:", exc)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    env.update(HOME=str(tmp_path), ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in out.stdout.splitlines() if line.startswith("CONFIG ERROR:")]
    assert len(lines) == 2, out.stdout + out.stderr[-2000:]
    for line in lines:
        assert "no credentials" in line and "ALIBABA_CLOUD_ACCESS_KEY_ID" in line
