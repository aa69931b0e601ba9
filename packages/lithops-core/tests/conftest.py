import sys
from pathlib import Path

import pytest

from lithops.plugins.manager import reset_registry

sys.path.insert(0, str(Path(__file__).parent / "fake_plugins"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No developer config, and a registry rebuilt for every test."""
    empty = tmp_path / "empty_config.yaml"
    empty.write_text("")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(empty))
    monkeypatch.delenv("LITHOPS_DISABLED_PLUGINS", raising=False)
    monkeypatch.delenv("LITHOPS_LOAD_PLUGINS", raising=False)
    reset_registry()
    yield
    reset_registry()
