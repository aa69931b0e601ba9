"""``lithops clean`` also deletes what the configured compute backend's crashed executors left on its platform
(``ComputeBackend.clean_leftovers``), and builds no backend that has nothing to clean."""

from __future__ import annotations

from pathlib import Path

import leftovers_plugin
import pytest
from click.testing import CliRunner

from lithops.cli.main import cli
from lithops.plugins.manager import PluginRegistry, reset_registry


@pytest.fixture
def registry() -> PluginRegistry:
    from lithops_plugin_template import plugin as template_plugin

    registry = PluginRegistry()
    registry.register(template_plugin, name="lithops-plugin-template", package="lithops-plugin-template")
    registry.register(leftovers_plugin, name="leftovers", package="lithops-leftovers")
    reset_registry(registry)
    return registry


def _configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(config))
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(tmp_path / "state"))


def test_clean_deletes_what_crashed_executors_left(registry: PluginRegistry, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    platform = tmp_path / "platform.txt"
    platform.write_text("job-a job-b\n")
    _configure(tmp_path, monkeypatch, "lithops:\n  backend: leftovers\n  storage: template_storage\n"
                                      f"leftovers:\n  platform_file: {platform}\n")
    result = CliRunner().invoke(cli, ["clean"])
    assert result.exit_code == 0, result.output
    assert "Deleted job job-a that a crashed executor left.\nDeleted job job-b that a crashed executor left." \
        in result.output
    assert platform.read_text() == ""


def test_clean_builds_no_backend_that_has_nothing_to_clean(registry: PluginRegistry, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(tmp_path, monkeypatch, "lithops:\n  backend: tidy\n  storage: template_storage\n")
    result = CliRunner().invoke(cli, ["clean"])
    assert result.exit_code == 0, result.output
