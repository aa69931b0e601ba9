"""Fixtures of the kernel's tests: no developer config, a fresh registry per test, and executors on in-process
fake backends (fake_plugins/inprocess_backend.py) with the plugin template's in-memory storage.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from held_calls import EVENTS, Events

from lithops.executors import FunctionExecutor
from lithops.plugins.manager import PluginRegistry, reset_registry

sys.path.insert(0, str(Path(__file__).parent / "fake_plugins"))
#: The plugin template (templates/ in the repository): its in-memory storage serves the fake backends.
TEMPLATE_SRC = Path(__file__).resolve().parents[3] / "templates" / "lithops-plugin-template" / "src"
sys.path.insert(0, str(TEMPLATE_SRC))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No developer config, and a registry rebuilt for every test."""
    empty = tmp_path / "empty_config.yaml"
    empty.write_text("")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(empty))
    monkeypatch.delenv("LITHOPS_DISABLED_PLUGINS", raising=False)
    monkeypatch.delenv("LITHOPS_LOAD_PLUGINS", raising=False)
    reset_registry()
    yield
    reset_registry()


def _inprocess_registry() -> PluginRegistry:
    """A registry with only the in-process backends and the template's storage (no entry points: neither
    lithops-localhost nor any other plugin takes part, as in the ``core`` tox env)."""
    import inprocess_backend
    from lithops_plugin_template import plugin as template_plugin

    registry = PluginRegistry()
    registry.register(template_plugin, name="lithops-plugin-template", package="lithops-plugin-template")
    registry.register(inprocess_backend, name="inprocess", package="lithops-core-tests")
    return registry


def inprocess_config(backend: str = "inprocess", **lithops: Any) -> dict[str, Any]:
    """Config for an executor on one of the in-process backends; ``lithops`` adds keys to its section."""
    return {"lithops": {"backend": backend, "storage": "template_storage", "monitoring_interval": 0.05,
                        **lithops}}


@pytest.fixture
def inprocess(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[PluginRegistry]:
    """The in-process backends registered (alone) for the test; job records go to a folder of the test."""
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(tmp_path / "state"))
    registry = _inprocess_registry()
    reset_registry(registry)
    yield registry
    reset_registry()


@pytest.fixture
def fexec(inprocess: PluginRegistry) -> Iterator[FunctionExecutor]:
    """An executor on the ``inprocess`` backend (statuses pushed to the monitor)."""
    executor = FunctionExecutor(config=inprocess_config(), log_level=None)
    try:
        yield executor
    finally:
        if executor.compute.gate is not None:  # type: ignore[attr-defined]
            executor.compute.gate.set()  # type: ignore[attr-defined]
        executor.close()


@pytest.fixture
def storage_fexec(inprocess: PluginRegistry) -> Iterator[FunctionExecutor]:
    """An executor on the ``inprocess_storage`` backend (statuses polled from storage)."""
    executor = FunctionExecutor(config=inprocess_config("inprocess_storage"), log_level=None)
    try:
        yield executor
    finally:
        if executor.compute.gate is not None:  # type: ignore[attr-defined]
            executor.compute.gate.set()  # type: ignore[attr-defined]
        executor.close()


@pytest.fixture
def events() -> Iterator[Events]:
    """Fresh events for :func:`held_calls.held`, all set at the end so that no call stays held."""
    EVENTS.clear()
    yield EVENTS
    for event in EVENTS.values():
        event.set()
