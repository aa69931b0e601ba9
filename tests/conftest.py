"""Shared fixtures of the cross-package tests: real executors on the localhost backend, no mocks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lithops

DATA_DIR = Path(__file__).parent / "data"
EMPTY_CONFIG = str(DATA_DIR / "empty_config.yaml")


@pytest.fixture(scope="session", autouse=True)
def _session_config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-scoped executors must not read a developer's own ~/.lithops/config either, nor
    write to their job log and call logs (lithops.local_state)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LITHOPS_CONFIG_FILE", EMPTY_CONFIG)
        mp.setenv("LITHOPS_STATE_DIR", str(tmp_path_factory.mktemp("lithops-state")))
        others = _installed_cloud_plugins()
        if others:  # a developer's venv with every package: these tests assume the integration env's set
            mp.setenv("LITHOPS_DISABLED_PLUGINS", ",".join(sorted(others)))
        yield


def _installed_cloud_plugins() -> set[str]:
    """Installed plugin packages other than lithops-localhost (tox's integration env has none)."""
    from importlib import metadata

    names = {ep.dist.metadata["Name"] for ep in metadata.entry_points(group="lithops") if ep.dist is not None}
    return names - {"lithops-localhost"}


@pytest.fixture(autouse=True)
def _empty_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from the empty config file (a test may change or unset the variable)."""
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", EMPTY_CONFIG)
    monkeypatch.delenv("LITHOPS_WORKER_CONFIG", raising=False)


@pytest.fixture(scope="session")
def warm_pool() -> Iterator[None]:
    """Hold the default localhost worker pool for the whole session, so executors made per test reuse warm
    workers instead of starting (and importing) new ones each time. Pools are shared per interpreter, size and
    working directory; an executor that asks for another size or runs in another folder gets its own."""
    keeper = lithops.FunctionExecutor(log_level=None)
    keeper.call_async(abs, -1).result()  # the pool starts on the first call
    try:
        yield
    finally:
        keeper.close()


@pytest.fixture
def storage_config(tmp_path: Path) -> dict[str, Any]:
    """A config whose localhost storage lives in this test's own folder."""
    root = tmp_path / "storage"
    root.mkdir()
    return {"localhost": {"storage_root": str(root)}}


@pytest.fixture
def fexec(warm_pool: None) -> Iterator[Any]:
    """A FunctionExecutor with the default (localhost) config, closed after the test."""
    executor = lithops.FunctionExecutor(log_level=None)
    try:
        yield executor
    finally:
        executor.close()


@pytest.fixture
def storage_fexec(warm_pool: None, storage_config: dict[str, Any]) -> Iterator[Any]:
    """A FunctionExecutor whose storage (the ``storage`` argument, job objects) is in this test's tmp_path."""
    executor = lithops.FunctionExecutor(config=storage_config, log_level=None)
    try:
        yield executor
    finally:
        executor.close()


@pytest.fixture(scope="module")
def module_fexec(warm_pool: None) -> Iterator[Any]:
    """One executor shared by the tests of a module that only submit independent work."""
    assert os.environ.get("LITHOPS_CONFIG_FILE") == EMPTY_CONFIG
    executor = lithops.FunctionExecutor(log_level=None)
    try:
        yield executor
    finally:
        executor.close()


@pytest.fixture
def sim_config(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Config for the simulated serverless backend (storage transport, workers run `python -m lithops.worker`),
    registered for the test and forgotten after it."""
    from lithops.plugins import get_registry, reset_registry
    from sim_backends import subprocess_serverless

    reset_registry()
    get_registry().register(subprocess_serverless, name="lithops-sim", package="lithops-sim")
    yield {
        "lithops": {"backend": "subprocess_serverless", "storage": "localhost", "monitoring_interval": 0.05},
        "localhost": {"storage_root": str(tmp_path / "storage")},
    }
    reset_registry()
