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

A backend that lacks a capability lists it in ``skip_capabilities`` (documented per suite; a name the suite
does not know is an error), e.g. ``skip_capabilities = {"worker_death"}``. Each test is time-bounded by the
suite (``test_timeout``, and ``call_timeout`` for every wait for calls). The suites need pytest, which is
imported only here; their modules are registered for pytest's assertion rewriting, so a failed check shows
the values it compared.

``isolate_from_user_config(monkeypatch, tmp_path)`` keeps a developer's own Lithops config and state folder out of
a test; packages call it from the autouse fixture of their ``conftest.py``.
"""

import pytest

pytest.register_assert_rewrite(
    "lithops.testing._common", "lithops.testing.compute_contract", "lithops.testing.plugin_contract",
    "lithops.testing.storage_contract",
)

from lithops.testing.compute_contract import ComputeContract  # noqa: E402 - after the registration above
from lithops.testing.isolation import isolate_from_user_config  # noqa: E402
from lithops.testing.plugin_contract import PluginContract  # noqa: E402
from lithops.testing.storage_contract import StorageContract  # noqa: E402

__all__ = ["ComputeContract", "PluginContract", "StorageContract", "isolate_from_user_config"]
