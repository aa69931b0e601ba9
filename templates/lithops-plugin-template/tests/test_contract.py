"""The public contract suites of lithops.testing, run against this plugin: all a backend needs to pass."""

import uuid

import pytest
from lithops.testing import ComputeContract, PluginContract, StorageContract

from lithops_plugin_template.storage import MemoryStorage


class TestTemplatePlugin(PluginContract):
    package = "lithops-plugin-template"
    compute_backends = {"template"}
    storage_backends = {"template_storage"}


class TestTemplateStorage(StorageContract):
    @pytest.fixture
    def storage(self):
        return MemoryStorage({"storage_bucket": "lithops-template"})

    @pytest.fixture
    def bucket(self, storage):
        name = f"contract-{uuid.uuid4().hex[:8]}"
        storage.create_bucket(name)
        return name


class TestTemplateCompute(ComputeContract):
    # Calls run in threads of this process: a thread cannot be stopped at its timeout, os._exit() would end this
    # process, and extra_env would change the environment of the whole process (such calls are refused).
    skip_capabilities = {"timeout", "worker_death", "extra_env"}

    @pytest.fixture
    def config(self):
        return {
            "lithops": {"backend": "template", "monitoring_interval": 0.05},
            "template": {"max_workers": 8},
        }
