import pytest


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch, tmp_path):
    """Keep the developer's own Lithops config (and job log) out of the tests."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(tmp_path / "state"))
