"""`lithops runtime ...` delegates to the compute backend's RuntimeBuilder; localhost has none."""

import json
import os

import pytest
from click.testing import CliRunner

from lithops.cli.main import cli
from lithops.plugins import get_registry, reset_registry
from sim_backends import runtime_plugin
from test_cli import assert_one_line_error, lithops


def test_localhost_has_no_runtime_builder(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    env = dict(os.environ, LITHOPS_CONFIG_FILE=str(empty))
    for args in (["list"], ["build", "myrt"], ["deploy", "myrt"], ["update", "myrt"], ["delete", "myrt"]):
        assert_one_line_error(lithops("runtime", *args, env=env), "'localhost'", "has no runtime builder")


@pytest.fixture
def builder_log(tmp_path, monkeypatch):
    cfg = tmp_path / "config.yaml"
    log = tmp_path / "builder.jsonl"
    cfg.write_text(f"lithops:\n  backend: built\n  storage: localhost\nbuilt:\n  log_file: {log}\n"
                   f"localhost:\n  storage_root: {tmp_path / 'storage'}\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(tmp_path / "state"))
    reset_registry()
    get_registry().register(runtime_plugin, name="built", package="lithops-built", version="1.0")
    yield log
    reset_registry()


def calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_runtime_commands_are_delegated_to_the_builder(builder_log):
    runner = CliRunner()
    result = runner.invoke(cli, ["runtime", "build", "myrt", "-f", "Dockerfile", "--platform", "linux/amd64"])
    assert result.exit_code == 0, result.output
    assert "Runtime myrt built for backend built." in result.output
    result = runner.invoke(cli, ["runtime", "deploy", "myrt", "-m", "512", "-t", "60"])
    assert result.exit_code == 0, result.output
    assert "deployed on backend built (python_version: 3.11, memory: 512)" in result.output
    result = runner.invoke(cli, ["runtime", "deploy", "myrt", "--memory", "1024"])
    result = runner.invoke(cli, ["runtime", "list"])
    assert result.exit_code == 0, result.output
    assert "myrt" in result.output and "512" in result.output and "1024" in result.output
    result = runner.invoke(cli, ["runtime", "update", "myrt"])
    assert result.exit_code == 0 and "2 deployment(s)" in result.output
    result = runner.invoke(cli, ["runtime", "delete", "myrt", "-m", "512"])
    assert result.exit_code == 0 and "Runtime myrt deleted from backend built." in result.output
    assert [c["op"] for c in calls(builder_log)] == ["build", "deploy", "deploy", "list", "list", "deploy", "deploy",
                                                     "delete"]
    first = calls(builder_log)[0]
    assert first == {"op": "build", "name": "myrt", "file": "Dockerfile", "extra_args": ["--platform", "linux/amd64"]}
    assert calls(builder_log)[1] == {"op": "deploy", "name": "myrt", "memory": 512, "timeout": 60}


def test_builder_errors_are_one_line(builder_log):
    result = CliRunner().invoke(cli, ["runtime", "update", "other"])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: runtime other is not deployed on backend built. Deploy it: "
                                     "lithops runtime deploy other")
    result = CliRunner().invoke(cli, ["runtime", "build", "broken"])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: RuntimeError: docker build failed: no Dockerfile here. Run the command "
                                     "again with --debug to see where it happened.")


def test_clean_all_deletes_the_deployed_runtimes(builder_log):
    runner = CliRunner()
    for memory in ("256", "512"):
        assert runner.invoke(cli, ["runtime", "deploy", "myrt", "-m", memory]).exit_code == 0
    result = runner.invoke(cli, ["clean"])
    assert result.exit_code == 0, result.output
    assert "runtime" not in result.output  # only with --all
    result = runner.invoke(cli, ["clean", "--all"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 deployed runtime(s) of backend built." in result.output
    deletes = [(c["name"], c["memory"]) for c in calls(builder_log) if c["op"] == "delete"]
    assert sorted(deletes) == [("myrt", 256), ("myrt", 512)]
