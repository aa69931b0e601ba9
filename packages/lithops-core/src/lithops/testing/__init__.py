"""Contract test suites that every backend package runs against itself, by subclassing.

A plugin's tests opt in with small subclasses that provide fixtures::

    from lithops.testing import ComputeContract, PluginContract, StorageContract

    class TestFooPlugin(PluginContract):
        package = "lithops-foo"
        compute_backends = {"foo"}
        storage_backends = {"foo_store"}

    class TestFooStorage(StorageContract):
        @pytest.fixture
        def storage(self):          # a StorageBackend instance
            ...
        @pytest.fixture
        def bucket(self, storage):  # an existing, empty bucket
            ...

    class TestFooCompute(ComputeContract):
        @pytest.fixture
        def config(self):           # a full Lithops config dict for FunctionExecutor(config=...)
            ...

A backend that lacks a capability lists it in ``skip_capabilities`` (documented per test), e.g.
``skip_capabilities = {"worker_death"}``. The suites need pytest, which is imported only here.
"""

from lithops.testing.compute_contract import ComputeContract
from lithops.testing.plugin_contract import PluginContract
from lithops.testing.storage_contract import StorageContract

__all__ = ["ComputeContract", "PluginContract", "StorageContract"]
