import pytest


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch, tmp_path):
    """Keep a developer's own Lithops config out of the tests."""
    empty = tmp_path / "empty_config.yaml"
    empty.write_text("")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(empty))
