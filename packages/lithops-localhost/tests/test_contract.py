import pytest

from lithops.testing import ComputeContract, StorageContract
from lithops_localhost.storage import LocalhostStorage


class TestLocalhostStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path):
        return LocalhostStorage({"storage_root": str(tmp_path / "root"), "storage_bucket": "storage"})

    @pytest.fixture
    def bucket(self, storage):
        return "storage"


class TestLocalhostCompute(ComputeContract):
    @pytest.fixture
    def config(self, tmp_path):
        return {
            "lithops": {"backend": "localhost", "storage": "localhost"},
            "localhost": {"storage_root": str(tmp_path / "root"), "worker_processes": 2},
        }
