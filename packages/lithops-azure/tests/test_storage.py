"""azure_storage against Azurite: the whole storage contract, the three ways to give the account, data maps over
``az://`` URLs, and clear errors for wrong keys and a server that is down."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import pytest

import lithops
from lithops.testing import PluginContract, StorageContract
from lithops_azure.auth import AzureConnectionError, AzureCredentialsError
from lithops_azure.blob.storage import AzureBlobStorage
from lithops_azure.testing.azurite import ACCOUNT, Azurite


class TestAzurePlugin(PluginContract):
    package = "lithops-azure"
    compute_backends = {"azure_containers", "azure_functions", "azure_vms"}
    storage_backends = {"azure_storage"}


class TestAzureBlobStorage(StorageContract):
    @pytest.fixture
    def storage(self, storage_section: dict[str, Any]) -> AzureBlobStorage:
        # small blocks, so the contract's 6 MiB upload goes in committed blocks
        return AzureBlobStorage(dict(storage_section, max_single_put_size=1024 * 1024, max_block_size=1024 * 1024))

    @pytest.fixture
    def bucket(self, storage: AzureBlobStorage) -> str:
        return storage.default_bucket()


def _endpoints(azurite: Azurite) -> str:
    return azurite.connection_string.split(f"AccountKey={azurite.key};", 1)[1]


def test_account_name_and_key(azurite: Azurite) -> None:
    """Lithops' own keys (account name and key) work; the endpoints come from a connection string without a key."""
    conn = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={azurite.key};{_endpoints(azurite)}"
    storage = AzureBlobStorage({"connection_string": conn})
    bucket = storage.default_bucket()
    assert bucket == f"lithops-{ACCOUNT}"
    storage.put_object(bucket, "k", b"v")
    assert storage.get_object(bucket, "k") == b"v"


def test_environment_connection_string(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """AZURE_STORAGE_CONNECTION_STRING is used when the section names no account."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    storage = lithops.Storage(backend="azure_storage")
    storage.put_object(storage.bucket, "env/key", b"from the environment")
    assert storage.get_object(storage.bucket, "env/key") == b"from the environment"


def test_ranges_and_block_upload(storage_section: dict[str, Any]) -> None:
    storage = AzureBlobStorage(dict(storage_section, max_single_put_size=1024, max_block_size=1024))
    bucket = storage.default_bucket()
    data = bytes(range(256)) * 40  # 10 KiB: ten blocks
    storage.put_object(bucket, "big", io.BytesIO(data))
    assert storage.get_object(bucket, "big") == data
    assert storage.get_object(bucket, "big", extra_get_args={"Range": "bytes=10-19"}) == data[10:20]
    assert storage.get_object(bucket, "big", extra_get_args={"Range": "bytes=-5"}) == data[-5:]
    assert storage.get_object(bucket, "big", extra_get_args={"Range": "bytes=10000-"}) == data[10000:]
    assert storage.get_object(bucket, "big", extra_get_args={"Range": "bytes=99999-"}) == b""
    assert storage.get_range(bucket, "big", 5, 99999) == data[5:]
    with storage.get_object(bucket, "big", stream=True) as f:  # type: ignore[union-attr]
        assert f.read(3) == data[:3] and f.read() == data[3:]


def test_data_map_over_az_urls(storage_section: dict[str, Any], tmp_path: Any) -> None:
    """A data map over az:// URLs reads each blob through azure_storage (localhost compute)."""
    storage = AzureBlobStorage(storage_section)
    bucket = storage.default_bucket()
    for i in range(3):
        storage.put_object(bucket, f"data/{i}.txt", ("x\n" * (i + 1)).encode())
    config = {"lithops": {"backend": "localhost", "storage": "azure_storage"}, "azure_storage": storage_section,
              "localhost": {"worker_processes": 2}}

    def lines(obj: Any) -> int:
        return obj.data_stream.read().count(b"\n")

    with lithops.FunctionExecutor(config=config) as fexec:
        result = fexec.map(lines, f"az://{bucket}/data/").get_result()
    assert sorted(result) == [1, 2, 3]


def test_wrong_key_is_a_credentials_error(azurite: Azurite) -> None:
    wrong = azurite.connection_string.replace(azurite.key, "d3Jvbmc=" * 11)
    storage = AzureBlobStorage({"connection_string": wrong})
    with pytest.raises(AzureCredentialsError, match=r"rejected the credentials.*connection_string"):
        storage.create_bucket(f"x{uuid.uuid4().hex[:8]}")


def test_server_down_is_a_clear_error_without_hanging() -> None:
    server = Azurite()
    server.blob_port = server.queue_port = 9  # discard port: nothing listens
    storage = AzureBlobStorage({"connection_string": server.connection_string, "connection_timeout": 2,
                                "read_timeout": 2, "max_attempts": 2})
    start = time.monotonic()
    with pytest.raises(AzureConnectionError, match="cannot reach Azure"):
        storage.head_bucket("anything")
    assert time.monotonic() - start < 60


def test_the_test_azurite_refuses_the_published_development_key(azurite: Azurite) -> None:
    """Other users of the machine know Azurite's published key; the tests' server must not accept it."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
    from azure.storage.blob import BlobServiceClient

    published = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    conn = azurite.connection_string.replace(azurite.key, published)
    client = BlobServiceClient.from_connection_string(conn, retry_total=0)
    with pytest.raises((ClientAuthenticationError, HttpResponseError)):
        client.create_container("planted")
