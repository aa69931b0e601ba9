"""Config discovery, validation and backend lookup, as a user meets them through the public API."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest

import lithops
from lithops.config import default_config, extract_storage_config, load_yaml_config
from lithops.constants import CONFIG_FILE_GLOBAL, CONFIG_FILE_USER
from lithops.errors import BackendNotFoundError, BackendNotInstalledError, ConfigError, PluginError

EMPTY_CONFIG = str(Path(__file__).parent / "data" / "empty_config.yaml")


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def ident(x: Any) -> Any:
    return x


def worker_execution_timeout() -> Any:
    return default_config()["lithops"]["execution_timeout"]


# -- defaults and discovery --------------------------------------------------------------------------------------


def test_default_config_is_localhost() -> None:
    config = default_config()
    assert config["lithops"]["backend"] == "localhost"
    assert config["lithops"]["storage"] == "localhost"
    assert config["lithops"]["mode"] == "localhost"
    assert "localhost" in config


def test_default_config_defaults_filled_in() -> None:
    lithops_section = default_config()["lithops"]
    assert lithops_section["execution_timeout"] == 1800
    assert lithops_section["data_limit"] == 4
    assert lithops_section["result_limit"] == 512


def test_no_config_file_at_all(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if os.path.isfile(CONFIG_FILE_USER) or os.path.isfile(CONFIG_FILE_GLOBAL):
        pytest.skip("this machine has a user or global Lithops config file")
    monkeypatch.delenv("LITHOPS_CONFIG_FILE")
    monkeypatch.chdir(tmp_path)
    config = default_config()
    assert (config["lithops"]["backend"], config["lithops"]["storage"], config["lithops"]["mode"]) == (
        "localhost", "localhost", "localhost"
    )


def test_local_config_file_in_cwd_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(tmp_path / ".lithops_config", "lithops:\n  execution_timeout: 77\nlocalhost:\n  worker_processes: 3\n")
    monkeypatch.delenv("LITHOPS_CONFIG_FILE")
    monkeypatch.chdir(tmp_path)
    config = default_config()
    assert config["lithops"]["execution_timeout"] == 77
    assert config["localhost"]["worker_processes"] == 3


def test_config_file_env_wins_over_local_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(tmp_path / ".lithops_config", "lithops:\n  execution_timeout: 77\n")
    named = write(tmp_path / "named.yaml", "lithops:\n  execution_timeout: 55\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", named)
    assert default_config()["lithops"]["execution_timeout"] == 55


def test_config_dict_wins_over_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    named = write(tmp_path / "named.yaml", "lithops:\n  execution_timeout: 55\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", named)
    assert default_config({"lithops": {"execution_timeout": 12}})["lithops"]["execution_timeout"] == 12
    assert default_config({})["lithops"]["execution_timeout"] == 1800


def test_config_file_reaches_the_executor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    named = write(tmp_path / "named.yaml", "lithops:\n  data_limit: 1\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", named)
    with lithops.FunctionExecutor(log_level=None) as fexec:
        assert fexec.config["lithops"]["data_limit"] == 1


def test_executor_arguments_override_config() -> None:
    config = {"lithops": {"backend": "localhost"}, "localhost": {"worker_processes": 1}}
    fexec = lithops.FunctionExecutor(config=config, worker_processes=3, runtime_memory=256, log_level=None)
    try:
        assert fexec.config["localhost"]["worker_processes"] == 3
        assert fexec.config["localhost"]["runtime_memory"] == 256
        assert fexec.backend == "localhost" and fexec.mode == "localhost"
        # the dict passed in is not modified
        assert config["localhost"] == {"worker_processes": 1}
    finally:
        fexec.close()


def test_executor_uses_the_storage_root_of_its_config(storage_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=storage_config, log_level=None) as fexec:
        storage = fexec.storage
        storage.put_object(storage.bucket, "probe", b"x")
    root = storage_config["localhost"]["storage_root"]
    assert os.path.isfile(os.path.join(root, storage.bucket, "probe"))


def test_worker_sees_the_executor_config() -> None:
    """Inside a worker, config discovery returns the config of the executor that started the call."""
    with lithops.FunctionExecutor(config={"lithops": {"execution_timeout": 123}}, log_level=None) as fexec:
        assert fexec.call_async(worker_execution_timeout, ()).result() == 123


def storage_in_a_call(_: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lithops.Storage()
    return [str(w.message) for w in caught]


def test_storage_in_a_call_warns_nothing_about_the_shared_localhost_section() -> None:
    """The localhost section holds the compute and the storage backend's keys: neither is unknown to the other."""
    with lithops.FunctionExecutor(log_level=None) as fexec:
        assert fexec.call_async(storage_in_a_call, 0).result() == []


# -- load_yaml_config / extract_storage_config ---------------------------------------------------------------


def test_load_yaml_config(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "lithops:\n  backend: localhost\nlocalhost:\n  worker_processes: 2\n")
    assert load_yaml_config(path) == {"lithops": {"backend": "localhost"}, "localhost": {"worker_processes": 2}}
    assert load_yaml_config(EMPTY_CONFIG) == {}


def test_extract_storage_config(tmp_path: Path) -> None:
    config = default_config({"localhost": {"storage_root": str(tmp_path), "storage_bucket": "bkt"}})
    storage_config = extract_storage_config(config)
    assert storage_config["backend"] == "localhost"
    assert storage_config["bucket"] == "bkt"
    assert storage_config["localhost"]["storage_root"] == str(tmp_path)
    storage = lithops.Storage(storage_config=storage_config)
    assert storage.bucket == "bkt"


# -- errors ------------------------------------------------------------------------------------------------------


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere" / "config.yaml")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", missing)
    with pytest.raises(ConfigError) as info:
        default_config()
    assert missing in str(info.value)
    with pytest.raises(ConfigError, match="nowhere"):
        lithops.FunctionExecutor(log_level=None)


def test_yaml_syntax_error_names_file_and_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "lithops:\n  backend: localhost\n  storage: [unclosed\nlocalhost: {}\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", bad)
    with pytest.raises(ConfigError) as info:
        default_config()
    message = str(info.value)
    assert bad in message
    assert "line 4" in message or "line 3" in message


def test_yaml_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list\.yaml"):
        load_yaml_config(path)


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        default_config({"localhost": {"worker_processes": "two"}})
    assert "localhost.worker_processes" in str(info.value)
    assert "'two'" in str(info.value)
    with pytest.raises(ConfigError, match="worker_processes"):
        lithops.FunctionExecutor(config={"localhost": {"worker_processes": "two"}}, log_level=None)


def test_wrong_type_in_lithops_section() -> None:
    with pytest.raises(ConfigError, match=r"lithops.execution_timeout"):
        default_config({"lithops": {"execution_timeout": "soon"}})


def test_bad_choice_and_minimum() -> None:
    with pytest.raises(ConfigError, match=r"lithops.mode"):
        default_config({"lithops": {"mode": "cloudy"}})
    with pytest.raises(ConfigError, match=r"localhost.worker_processes"):
        default_config({"localhost": {"worker_processes": 0}})


def test_wrong_type_from_file_names_file_and_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "typed.yaml", "localhost:\n  worker_processes: two\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", path)
    with pytest.raises(ConfigError) as info:
        default_config()
    assert path in str(info.value) and "worker_processes" in str(info.value)


def test_unknown_key_warns_with_did_you_mean() -> None:
    with pytest.warns(UserWarning, match="Did you mean 'execution_timeout'"):
        config = default_config({"lithops": {"execution_timout": 10}})
    assert config["lithops"]["execution_timeout"] == 1800
    with pytest.warns(UserWarning, match="Did you mean 'worker_processes'"):
        default_config({"localhost": {"worker_procesess": 2}})


def test_known_keys_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default_config({"lithops": {"execution_timeout": 10, "log_level": None}, "localhost": {"worker_processes": 2}})


def test_backend_not_installed() -> None:
    with pytest.raises(BackendNotInstalledError) as info:
        lithops.FunctionExecutor(backend="aws_lambda", log_level=None)
    assert "pip install lithops-aws" in str(info.value)
    assert isinstance(info.value, PluginError)


def test_backend_not_installed_from_config() -> None:
    with pytest.raises(BackendNotInstalledError, match="pip install lithops-gcp"):
        lithops.FunctionExecutor(config={"lithops": {"backend": "gcp_functions"}}, log_level=None)


def test_storage_backend_not_installed() -> None:
    with pytest.raises(BackendNotInstalledError, match="pip install lithops-aws"):
        lithops.FunctionExecutor(storage="aws_s3", log_level=None)
    with pytest.raises(BackendNotInstalledError, match="lithops-aws"):
        lithops.Storage(backend="aws_s3")


def test_backend_typo_suggests_the_right_name() -> None:
    with pytest.raises(BackendNotFoundError) as info:
        lithops.FunctionExecutor(backend="localhst", log_level=None)
    assert "Did you mean 'localhost'" in str(info.value)


def test_serverless_and_standalone_executor_need_their_plugin() -> None:
    with pytest.raises(BackendNotInstalledError, match="lithops-aws"):
        lithops.ServerlessExecutor(log_level=None)
    with pytest.raises(BackendNotInstalledError, match="lithops-aws"):
        lithops.StandaloneExecutor(log_level=None)


def test_mode_and_backend_mismatch() -> None:
    with pytest.raises(ConfigError, match="backend 'localhost' runs in localhost mode, not serverless"):
        lithops.FunctionExecutor(mode="serverless", backend="localhost", log_level=None)


def test_mode_executor_ignores_a_backend_of_another_mode_in_the_config() -> None:
    with pytest.raises(BackendNotInstalledError, match="'aws_lambda'"):
        lithops.ServerlessExecutor(config={"lithops": {"backend": "localhost"}}, log_level=None)
    with lithops.LocalhostExecutor(config={"lithops": {"backend": "localhost"}}, log_level=None) as fexec:
        assert fexec.backend == "localhost"


def test_config_not_a_dict() -> None:
    with pytest.raises(ConfigError):
        lithops.FunctionExecutor(config=["localhost"], log_level=None)  # type: ignore[arg-type]


def test_executor_with_file_config_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = tmp_path / "root"
    named = write(tmp_path / "named.yaml", f"lithops:\n  backend: localhost\nlocalhost:\n  storage_root: {root}\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", named)
    with lithops.FunctionExecutor(log_level=None) as fexec:
        assert fexec.config["localhost"]["storage_root"] == str(root)
        assert fexec.call_async(ident, "from-file-config").result() == "from-file-config"


def test_localhost_executor_takes_config_first_and_falls_back_to_localhost() -> None:
    with lithops.LocalhostExecutor({"lithops": {"backend": "aws_lambda"}}, log_level=None) as fexec:
        assert (fexec.backend, fexec.mode) == ("localhost", "localhost")
        assert fexec.call_async(ident, 3).result() == 3


def test_mode_and_backend_clash_in_one_config() -> None:
    with pytest.raises(ConfigError, match="backend 'localhost' runs in localhost mode, not serverless"):
        lithops.FunctionExecutor(config={"lithops": {"mode": "serverless", "backend": "localhost"}}, log_level=None)


def test_remote_invoker_warns_where_the_backend_has_no_such_key() -> None:
    """docs/config.md: the localhost backend has no remote_invoker key, so the argument draws a warning."""
    with pytest.warns(UserWarning, match=r"argument remote_invoker: unknown key localhost\.remote_invoker"):
        with lithops.FunctionExecutor(remote_invoker=True, log_level=None) as fexec:
            assert fexec.call_async(ident, 1).result() == 1


def test_log_level_true_uses_the_configured_level() -> None:
    with lithops.FunctionExecutor(log_level=True) as fexec:
        assert fexec.call_async(ident, 2).result() == 2


# -- one validation that reports every problem -------------------------------------------------------------------


@pytest.mark.parametrize("section", ["[1, 2]", "localhost"])
def test_a_lithops_section_that_is_not_a_mapping_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, section: str
) -> None:
    path = write(tmp_path / "c.yaml", f"lithops: {section}\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", path)
    with pytest.raises(ConfigError, match=f"config file {path}: section 'lithops' must be a mapping"):
        lithops.FunctionExecutor(log_level=None)
    with pytest.raises(ConfigError, match="section 'lithops' must be a mapping"):
        lithops.FunctionExecutor(config={"lithops": [1, 2]}, log_level=None)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("lithops:\n  execution_timeout: .nan\n", "lithops.execution_timeout is nan; it must be a finite number"),
        ("lithops:\n  execution_timeout: .inf\n", "lithops.execution_timeout is inf; it must be a finite number"),
        ("lithops:\n  data_limit: -1\n", "lithops.data_limit is -1; it must be at least 0"),
        ("lithops:\n  result_limit: -0.5\n", "lithops.result_limit is -0.5; it must be at least 0"),
        ("lithops:\n  log_level: LOUD\n", "lithops.log_level is 'LOUD'; it must be a logging level"),
    ],
)
def test_values_out_of_range_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str,
                                         fragment: str) -> None:
    path = write(tmp_path / "c.yaml", text)
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", path)
    with pytest.raises(ConfigError, match=re_escape(fragment)):
        lithops.FunctionExecutor(log_level=None)
    with pytest.raises(ConfigError, match=re_escape(fragment)):
        lithops.FunctionExecutor()  # the default log_level=False sets up logging: same error, not a raw one


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        default_config({"lithops": {"execution_timeout": "soon", "data_limit": -1, "log_level": "LOUD"},
                        "localhost": {"worker_processes": "two"}})
    message = str(info.value)
    for key in ("lithops.execution_timeout", "lithops.data_limit", "lithops.log_level", "localhost.worker_processes"):
        assert key in message, message
    assert message.startswith("4 problems in the config:"), message


def test_a_bad_executor_argument_is_blamed_on_the_argument() -> None:
    with pytest.raises(ConfigError) as info:
        lithops.FunctionExecutor(worker_processes="two", log_level=None)  # type: ignore[arg-type]
    message = str(info.value)
    assert "FunctionExecutor argument worker_processes: localhost.worker_processes must be int" in message
    assert "built-in defaults" not in message
    with pytest.raises(ConfigError, match=r"FunctionExecutor argument log_level: lithops\.log_level is 'LOUD'"):
        lithops.FunctionExecutor(log_level="LOUD")


def test_a_config_file_that_is_not_utf8_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("lithops:\n  backend: localhost # r\u00e9gion\n".encode("latin-1"))
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError, match=rf"config file {path} is not UTF-8 text .*line 2.*Save it as UTF-8"):
        lithops.FunctionExecutor(log_level=None)


def test_a_log_file_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    config = {"lithops": {"log_filename": str(missing / "lithops.log")}}
    with pytest.raises(ConfigError, match=rf"lithops.log_filename names a file in folder {missing}, which does not"):
        lithops.FunctionExecutor(config=config)
    with pytest.raises(ConfigError, match="does not exist"):
        default_config(config)  # validation itself, before any logging is set up


@pytest.mark.filterwarnings("ignore:.*unknown key localhost.runtime_opts")
def test_a_value_that_is_not_json_is_refused_naming_the_key() -> None:
    import datetime

    with pytest.raises(ConfigError, match=r"the config dict passed in: other\.when\[1\] is a date"):
        lithops.FunctionExecutor(config={"other": {"when": ["x", datetime.date(2024, 1, 1)]}}, log_level=None)
    with pytest.raises(ConfigError, match=r"localhost\.runtime_opts is a set"):
        lithops.FunctionExecutor(config={"localhost": {"runtime_opts": {1, 2}}}, log_level=None)


def test_a_yaml_alias_cycle_is_refused_naming_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "cycle.yaml", "a: &a [*a]\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", path)
    with pytest.raises(ConfigError, match=rf"config file {path}: a\[0\] contains itself"):
        lithops.FunctionExecutor(log_level=None)


# -- what travels to workers -------------------------------------------------------------------------------------


def what_the_worker_received() -> str:
    """The config a call finds in its environment."""
    import os as worker_os

    return worker_os.environ.get("LITHOPS_WORKER_CONFIG", "")


def what_a_nested_executor_sees() -> Any:
    from lithops.config import default_config as discovered

    return discovered()


SECRETS = {"ibm": {"api_key": "ibm-secret-4711"}, "redis": {"password": "redis-secret-4711"},
           "someplugin": {"token": "plugin-secret-4711"}}


def test_a_secret_in_an_unrelated_section_does_not_reach_the_worker(storage_config: dict[str, Any]) -> None:
    log = os.path.join(storage_config["localhost"]["storage_root"], "client.log")
    config = {**storage_config, **SECRETS, "lithops": {"execution_timeout": 321, "log_filename": log}}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        env = fexec.call_async(what_the_worker_received, ()).result()
        inherited = fexec.call_async(what_a_nested_executor_sees, ()).result()
    assert "secret-4711" not in env, env
    assert set(inherited) == {"lithops", "localhost"}
    assert inherited["lithops"]["execution_timeout"] == 321
    assert inherited["lithops"]["log_filename"] is None  # a path on the client's machine stays there
    assert inherited["localhost"]["storage_root"] == storage_config["localhost"]["storage_root"]


def test_a_worker_payload_carries_only_the_sections_its_backends_use(sim_config: dict[str, Any]) -> None:
    import json

    config = {**sim_config, **SECRETS}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        env = fexec.call_async(what_the_worker_received, ()).result(timeout=60)
        payloads = fexec.compute.payloads
    sections = {"lithops", "subprocess_serverless", "localhost"}
    assert payloads and all(set(p["config"]) == sections for p in payloads)
    assert "secret-4711" not in str(payloads) and "secret-4711" not in env
    assert set(json.loads(env)) == sections


# -- installation --------------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_a_backend_not_installed_also_says_how_to_install_it_from_this_clone() -> None:
    with pytest.raises(BackendNotInstalledError) as info:
        lithops.FunctionExecutor(backend="aws_lambda", log_level=None)
    message = str(info.value)
    assert "\n    pip install lithops-aws\n" in message
    assert f"\n    pip install {REPO / 'packages' / 'lithops-aws'}   # from the clone at {REPO}" in message
    from lithops.plugins.known import KNOWN_BACKENDS

    elsewhere = [name for name, package in KNOWN_BACKENDS["compute"].items()
                 if not (REPO / "packages" / package).exists()]
    if not elsewhere:
        pytest.skip("every known backend's package is in this clone")
    with pytest.raises(BackendNotInstalledError) as info:
        lithops.FunctionExecutor(backend=elsewhere[0], log_level=None)
    assert "from the clone" not in str(info.value)  # no such folder in the repository


def test_lithops_3_installed_alongside_is_detected(tmp_path: Path) -> None:
    import subprocess
    import sys

    dist = tmp_path / "lithops-3.8.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lithops\nVersion: 3.8.0\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    script = "import lithops\nwith lithops.FunctionExecutor(log_level=None):\n    pass\n"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Lithops 3.x (distribution 'lithops' 3.8.0) is installed in this environment" in out.stderr
    assert "fresh virtual environment" in out.stderr
    clean = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "Lithops 3.x" not in clean.stderr
