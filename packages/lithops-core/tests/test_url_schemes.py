"""Provider names live in the plugins' specs and the install-hint table (plugins.known), not in kernel tables."""

from __future__ import annotations

from typing import Any

import pytest

from lithops.errors import PartitionError
from lithops.job.partitioner import Partitioner
from lithops.plugins.manager import PluginRegistry
from lithops.plugins.specs import StorageBackendSpec
from lithops.storage.storage import Storage


def _partitioner(opened: list[str]) -> Partitioner:
    storage = Storage(storage_config={"backend": "template_storage", "bucket": "lithops-template",
                                      "template_storage": {"storage_bucket": "lithops-template"}})
    storage.put_object("lithops-template", "data/a.txt", b"one\ntwo\n")

    def open_storage(backend: str) -> tuple[Any, str]:
        opened.append(backend)
        return storage, "lithops_plugin_template.storage:MemoryStorage"

    return Partitioner(open_storage, "template_storage", local_files=False)


def test_a_scheme_a_plugin_declares_reads_through_its_backend(inprocess: PluginRegistry) -> None:
    assert inprocess.url_schemes() == {"template": "template_storage"}
    opened: list[str] = []
    [chunk] = _partitioner(opened).partition("template://lithops-template/data/a.txt")
    assert opened == ["template_storage"] and chunk.key == "data/a.txt"


def test_a_known_scheme_whose_plugin_is_missing_names_the_package(inprocess: PluginRegistry) -> None:
    with pytest.raises(PartitionError, match=r"gs:// is read by storage backend 'gcp_storage' of lithops-gcp, "
                                             r"which is not installed: pip install lithops-gcp\. Use one of "
                                             r"template://"):
        _partitioner([]).partition("gs://bucket/key")


def test_oss_urls_name_lithops_aliyun_when_it_is_missing(inprocess: PluginRegistry) -> None:
    with pytest.raises(PartitionError, match=r"oss:// is read by storage backend 'aliyun_oss' of lithops-aliyun, "
                                             r"which is not installed: pip install lithops-aliyun"):
        _partitioner([]).partition("oss://bucket/prefix/")


def test_a_malformed_scheme_is_refused_at_registration() -> None:
    with pytest.raises(ValueError, match=r"url_schemes \('s3://',\) of storage backend 'x' must be"):
        StorageBackendSpec(name="x", backend="m:C", url_schemes=("s3://",))


def test_a_mode_picks_its_backend_from_the_install_hint_table(inprocess: PluginRegistry,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's constants name no provider: a mode's default backend comes from plugins.known."""
    from lithops.config import default_config
    from lithops.plugins import known

    monkeypatch.setitem(known.MODE_DEFAULT_BACKENDS, "serverless", "inprocess_storage")
    config = default_config({"lithops": {"mode": "serverless", "storage": "template_storage"}})
    assert config["lithops"]["backend"] == "inprocess_storage"
