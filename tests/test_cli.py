"""The `lithops` command as a user runs it: in a subprocess, with real backends."""

import os
import subprocess
import sys

import pytest

LITHOPS = [sys.executable, "-c", "from lithops.cli.main import main; main()"]


def lithops(*args, env, timeout=120, **kwargs):
    return subprocess.run([*LITHOPS, *args], env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def assert_one_line_error(out, *fragments):
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("Error: "), out.stderr
    # the message, and at most the 'pip install' lines under it (the package's name, and its folder in a clone)
    assert all(line.strip().startswith("pip install") for line in lines[1:]) and len(lines) <= 3, out.stderr
    for fragment in fragments:
        assert fragment in out.stderr


@pytest.fixture
def env(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    return dict(os.environ, LITHOPS_CONFIG_FILE=str(empty), LITHOPS_STATE_DIR=str(tmp_path / "state"))


def test_hello_runs_a_function(env):
    out = lithops("hello", env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Lithops is working as expected" in out.stdout


def test_missing_backend_is_one_line_with_the_fix(env):
    out = lithops("hello", "--backend", "aws_lambda", env=env, timeout=60)
    assert_one_line_error(out, "pip install lithops-aws")


def test_debug_shows_the_traceback(env):
    out = lithops("--debug", "hello", "--backend", "aws_lambda", env=env, timeout=60)
    assert out.returncode == 1
    assert "Traceback" in out.stderr


def test_debug_flag_after_the_command_too(env):
    """Lithops' commands take -d/--debug themselves."""
    out = lithops("hello", "-b", "aws_lambda", "-d", env=env, timeout=60)
    assert out.returncode == 1
    assert "Traceback" in out.stderr


def test_plugins_lists_localhost(env):
    out = lithops("plugins", env=env, timeout=60)
    assert out.returncode == 0
    assert "lithops-localhost 4." in out.stdout
    assert "compute  localhost (localhost)" in out.stdout
    assert "storage  localhost" in out.stdout


def test_plugins_names_a_plugin_that_failed_to_load_and_why(env, tmp_path):
    """A real (metadata-only) installed distribution whose entry point cannot be imported."""
    site = tmp_path / "site"
    dist = site / "lithops_broken-0.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lithops-broken\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[lithops]\nbroken = lithops_broken_plugin\n")
    (site / "lithops_broken_plugin.py").write_text("import lithops_sdk_that_is_not_installed\n")
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    out = lithops("plugins", env=env, timeout=60)
    assert out.returncode == 1, out.stderr  # a plugin failed to load
    assert "lithops-broken 0.3" in out.stdout
    assert "FAILED TO LOAD: ModuleNotFoundError: No module named 'lithops_sdk_that_is_not_installed'" in out.stdout
    assert "lithops-localhost" in out.stdout  # the others still load


def test_help_lists_every_command(env):
    out = lithops("--help", env=env)
    assert out.returncode == 0
    for command in ("hello", "test", "clean", "storage", "runtime", "logs", "job", "worker", "plugins", "config"):
        assert f"  {command} " in out.stdout
    for group, subs in (("storage", ("put", "get", "delete", "list", "empty")),
                        ("runtime", ("build", "deploy", "list", "update", "delete")),
                        ("logs", ("poll", "get")), ("job", ("list",)), ("worker", ("list",)), ("config", ("show",))):
        out = lithops(group, "--help", env=env)
        assert out.returncode == 0, out.stderr
        for sub in subs:
            assert f"  {sub} " in out.stdout, (group, sub)


def test_bad_config_file_is_one_line(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lithops:\n  backend: localhost\n    storage: x\n")
    out = lithops("hello", "-c", str(bad), env=env)
    assert_one_line_error(out, f"config file {bad} is not valid YAML at line 3")


def test_bad_config_value_is_one_line(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lithops:\n  execution_timeout: soon\n")
    out = lithops("config", "show", "-c", str(bad), env=env)
    assert_one_line_error(out, "lithops.execution_timeout must be int or float, got 'soon'")


def test_an_unexpected_error_is_one_line_too(env, tmp_path):
    """Not a LithopsError: the localhost storage refuses a key that leaves the bucket (ValueError)."""
    f = tmp_path / "f.txt"
    f.write_text("x")
    out = lithops("storage", "put", str(f), "storage", "-k", "../outside", "-c", env["LITHOPS_CONFIG_FILE"], env=env)
    assert_one_line_error(out, "ValueError:", "--debug")


def test_config_show_masks_secrets_and_says_where_each_value_comes_from(env, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "lithops:\n  execution_timeout: 60\n"
        "localhost:\n  worker_processes: 3\n  my_api_token: hunter2\n"
        "aws:\n  access_key_id: AKIAEXAMPLE\n  secret_access_key: wJalrXUtnFEMI\n  region: eu-west-1\n"
    )
    out = lithops("config", "show", "-c", str(cfg), "-s", "localhost", env=env)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "hunter2" not in text and "AKIAEXAMPLE" not in text and "wJalrXUtnFEMI" not in text
    source = f"# config file {cfg}"
    lines = {line.split(":")[0].strip(): line for line in text.splitlines() if ":" in line and not line.startswith("#")}
    assert "60" in lines["execution_timeout"] and lines["execution_timeout"].endswith(source)
    assert "3" in lines["worker_processes"] and lines["worker_processes"].endswith(source)
    assert "'********'" in lines["my_api_token"]
    assert "'********'" in lines["access_key_id"] and "'********'" in lines["secret_access_key"]
    assert "eu-west-1" in lines["region"]
    assert lines["storage"].endswith("# override (--storage)")
    assert lines["data_limit"].endswith("# default")
    assert lines["mode"].endswith("# derived from the backend")
    assert f"# source: config file {cfg}" in text
    assert "Warning: config file" in out.stderr and "unknown key localhost.my_api_token" in out.stderr
    assert "Traceback" not in out.stderr


def test_config_show_masks_keys_declared_secret_by_the_plugin(env, tmp_path):
    """ConfigKey(secret=True) masks a value whatever its name: registered in-process, shown through click."""
    from click.testing import CliRunner

    from lithops.cli.main import cli
    from lithops.plugins import get_registry, reset_registry
    from sim_backends import secret_plugin

    cfg = tmp_path / "config.yaml"
    cfg.write_text("lithops:\n  backend: secretive\n  storage: localhost\nsecretive:\n  passphrase_plain: opensesame\n")
    reset_registry()
    try:
        get_registry().register(secret_plugin, name="secretive", package="lithops-secretive")
        result = CliRunner().invoke(cli, ["config", "show", "-c", str(cfg)])
    finally:
        reset_registry()
    assert result.exit_code == 0, result.output
    assert "opensesame" not in result.output
    assert "passphrase_plain: '********'" in result.output


def run_into_a_closed_pipe(args, env):
    """Run a command whose stdout is a pipe nobody reads any more (as with `| head -2` once head has exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = subprocess.run([*LITHOPS, *args], env=env, stdout=write_end, stderr=subprocess.PIPE, text=True,
                             timeout=60)
    finally:
        os.close(write_end)
    return out


def test_output_into_a_closed_pipe_ends_quietly(env, tmp_path):
    root = tmp_path / "storage"
    (root / "main").mkdir(parents=True)
    for i in range(50):
        (root / "main" / f"key{i:03d}").write_bytes(b"x")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"localhost:\n  storage_root: {root}\n  storage_bucket: main\n")
    env["LITHOPS_CONFIG_FILE"] = str(cfg)
    for args in (["config", "show"], ["storage", "list"]):
        out = run_into_a_closed_pipe(args, env)
        assert out.stderr == "", (args, out.stderr)
        assert out.returncode == 141, (args, out.returncode)  # as a Unix tool killed by SIGPIPE: 128 + 13


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("lithops: [1, 2]\n", "section 'lithops' must be a mapping"),
        ("lithops: localhost\n", "section 'lithops' must be a mapping"),
        ("lithops:\n  log_level: LOUD\n", "lithops.log_level is 'LOUD'; it must be a logging level"),
        ("lithops:\n  execution_timeout: .nan\n", "lithops.execution_timeout is nan; it must be a finite number"),
    ],
)
def test_every_command_refuses_a_bad_config_alike(env, tmp_path, text, fragment):
    """hello, test and config show validate the same way, and as FunctionExecutor() does."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    env["LITHOPS_CONFIG_FILE"] = str(cfg)
    expected = f"Error: config file {cfg}: {fragment}"
    for command in (["hello"], ["test"], ["config", "show"]):
        out = lithops(*command, env=env, timeout=60)
        assert_one_line_error(out)
        assert out.stderr.startswith(expected), (command, out.stderr)
    script = ("import lithops\ntry:\n    lithops.FunctionExecutor()\n"
              "except lithops.errors.ConfigError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith(expected[len("Error: "):]), out


def test_a_config_file_that_is_not_utf8_is_one_line(env, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_bytes(b"lithops:\n  backend: localhost # r\xe9gion\n")
    out = lithops("config", "show", "-c", str(cfg), env=env)
    assert_one_line_error(out, f"config file {cfg} is not UTF-8 text (byte 0xe9 on line 2). Save it as UTF-8.")


def test_a_plugin_that_calls_sys_exit_at_import_breaks_nothing_else(env, tmp_path):
    site = tmp_path / "site"
    dist = site / "lithops_quitter-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lithops-quitter\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[lithops]\nquitter = lithops_quitter_plugin\n")
    (site / "lithops_quitter_plugin.py").write_text("import sys\nsys.exit('quitter has no config')\n")
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    out = lithops("hello", env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Lithops is working as expected" in out.stdout
    out = lithops("plugins", env=env, timeout=60)
    assert "FAILED TO LOAD: SystemExit: quitter has no config" in out.stdout, out.stdout
