"""A compute backend is handed the executor's storage; it does not build one of its own from the config."""

from __future__ import annotations

import pytest

from conftest import inprocess_config
from lithops.errors import BackendError
from lithops.executors import FunctionExecutor
from lithops.plugins.manager import PluginRegistry


def test_the_backend_uses_the_executors_storage_client(inprocess: PluginRegistry) -> None:
    with FunctionExecutor(config=inprocess_config("inprocess_storage"), log_level=None) as fexec:
        storage, path = fexec.compute.job_storage()
        assert storage is fexec.storage
        assert path == "lithops_plugin_template.storage:MemoryStorage"


def test_a_backend_built_without_storage_says_how_to_give_it_one(inprocess: PluginRegistry) -> None:
    backend_cls = inprocess.load_class("compute", "inprocess_storage")
    backend = backend_cls({}, inprocess_config("inprocess_storage"))
    with pytest.raises(BackendError, match=r"built without the executor's storage: pass storage=JobStorage"):
        backend.job_storage()
