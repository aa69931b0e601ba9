"""The registry finds plugins one at a time and explains every failure."""

from importlib.metadata import EntryPoint

import pytest

import lithops
from lithops.errors import (
    BackendNotFoundError,
    BackendNotInstalledError,
    PluginConflictError,
    PluginLoadError,
)
from lithops.plugins.manager import PluginRegistry, get_registry, reset_registry


def _ep(name, module):
    return EntryPoint(name=name, value=module, group="lithops")


def _registry(*eps):
    registry = PluginRegistry()
    registry.load_entry_points(list(eps))
    return registry


def test_good_plugin_registers_its_backends():
    registry = _registry(_ep("lithops-fake", "good_plugin"))
    assert registry.names("compute") == ["fakecloud"]
    assert registry.names("storage") == ["fakestore"]
    spec = registry.compute_backend("fakecloud")
    assert spec.mode == "serverless" and spec.default_storage == "fakestore"
    assert spec.load().__name__ == "FakeCompute"


def test_broken_plugin_does_not_break_the_others():
    registry = _registry(_ep("lithops-aws", "broken_plugin"), _ep("lithops-fake", "good_plugin"))
    assert registry.names("compute") == ["fakecloud"]
    assert "boto3_that_is_not_installed" in registry.plugins["lithops-aws"].error
    with pytest.raises(PluginLoadError, match=r"lithops-aws .*failed to load.*boto3_that_is_not_installed"):
        registry.compute_backend("aws_lambda")


def test_conflict_names_both_packages():
    registry = _registry(_ep("lithops-fake", "good_plugin"), _ep("acme-lithops", "conflicting_plugin"))
    with pytest.raises(PluginConflictError, match=r"lithops-fake.*acme-lithops"):
        registry.storage_backend("fakestore")
    assert registry.compute_backend("fakecloud")  # the rest of the plugin still works


def test_known_backend_not_installed_says_what_to_install():
    with pytest.raises(BackendNotInstalledError, match="pip install lithops-aws"):
        _registry().compute_backend("aws_lambda")
    with pytest.raises(BackendNotInstalledError, match="pip install lithops-gcp"):
        _registry().storage_backend("gcp_storage")


def test_unknown_backend_suggests_a_close_name():
    registry = _registry(_ep("lithops-fake", "good_plugin"))
    with pytest.raises(BackendNotFoundError, match=r"Did you mean 'fakecloud'.*Installed: fakecloud"):
        registry.compute_backend("fakeclod")
    with pytest.raises(BackendNotFoundError, match=r"Did you mean 'aws_lambda'\?"):
        registry.compute_backend("aws_lamda")


def test_failing_hook_is_reported_and_other_hooks_survive():
    registry = _registry(_ep("lithops-bad", "bad_hook_plugin"))
    assert "hook exploded" in registry.plugins["lithops-bad"].error
    assert registry.names("storage") == ["survivor"]


def test_hook_returning_a_non_spec_is_reported():
    registry = _registry(_ep("lithops-odd", "wrong_type_plugin"))
    assert "expected ComputeBackendSpec" in registry.plugins["lithops-odd"].error
    assert registry.names("compute") == []


def test_disable_and_load_only(monkeypatch):
    monkeypatch.setenv("LITHOPS_DISABLED_PLUGINS", "lithops-fake")
    assert _registry(_ep("lithops-fake", "good_plugin")).names("compute") == []
    monkeypatch.delenv("LITHOPS_DISABLED_PLUGINS")
    monkeypatch.setenv("LITHOPS_LOAD_PLUGINS", "lithops-other")
    assert _registry(_ep("lithops-fake", "good_plugin")).names("compute") == []


def test_import_lithops_loads_no_plugin():
    reset_registry()
    assert lithops.FunctionExecutor is not None
    from lithops.plugins import manager

    assert manager._registry is None


def test_executor_without_any_backend_names_the_package(monkeypatch):
    reset_registry(PluginRegistry())
    with pytest.raises(BackendNotInstalledError, match="pip install lithops-localhost"):
        lithops.FunctionExecutor()


def test_serverless_executor_defaults_to_aws_lambda():
    reset_registry(PluginRegistry())
    with pytest.raises(BackendNotInstalledError, match=r"'aws_lambda' is provided by lithops-aws\b"):
        lithops.ServerlessExecutor()


def test_registry_is_built_once():
    assert get_registry() is get_registry()


def test_plugin_that_exits_at_import_is_isolated():
    registry = _registry(_ep("lithops-exit", "exiting_plugin"), _ep("lithops-fake", "good_plugin"))
    assert registry.names("compute") == ["fakecloud"]
    assert registry.plugins["lithops-exit"].error == "SystemExit: exiting_plugin refuses to load"


def test_every_hook_error_of_a_plugin_is_kept():
    registry = _registry(_ep("lithops-twobad", "two_bad_hooks_plugin"), _ep("lithops-fake", "good_plugin"))
    error = registry.plugins["lithops-twobad"].error
    assert "compute hook exploded" in error and "storage hook exited" in error, error
    assert registry.names("compute") == ["fakecloud"]


def test_a_known_backend_its_installed_package_lacks_is_not_called_missing():
    registry = _registry(_ep("lithops-gcp", "good_plugin"))  # an installed lithops-gcp without gcp_compute_engine
    with pytest.raises(BackendNotFoundError) as info:
        registry.find("compute", "gcp_compute_engine")
    message = str(info.value)
    assert "not installed" not in message
    assert "lithops-gcp" in message and "does not provide" in message and "fakecloud" in message
    assert "pip install --upgrade lithops-gcp" in message
