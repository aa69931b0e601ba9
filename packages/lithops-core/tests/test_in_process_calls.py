"""Calls run in the client's own process (the plugin template runs each worker payload in a client thread) leave
the client's environment alone: they learn that they run in a worker, and the config they inherit, from their
own context, not from ``os.environ``; ``extra_env`` is refused, with the reason, as it could only be set for the
whole process."""

import os
import time

import pytest

from conftest import inprocess_config
from lithops.config import default_config
from lithops.errors import ConfigError
from lithops.executors import FunctionExecutor
from lithops.utils import is_lithops_worker


def seen_from_the_call(pause):
    time.sleep(pause)
    nested = default_config()["lithops"]  # what a FunctionExecutor() made inside the call would use
    return is_lithops_worker(), nested["backend"], os.environ.get("LITHOPS_WORKER")


def read_env(name):
    return os.environ.get(name)


@pytest.fixture
def config_file_says_inprocess(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text("lithops:\n  backend: inprocess\n  storage: template_storage\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(path))


def test_calls_in_client_threads_leave_the_client_environment_alone(inprocess, config_file_says_inprocess):
    before = dict(os.environ)
    with FunctionExecutor(config=inprocess_config("template"), log_level=None) as fexec:
        outcomes = fexec.map(seen_from_the_call, [0.2] * 8).get_result(timeout=30)
    assert outcomes == [(True, "template", None)] * 8  # a worker, on its executor's config; os.environ untouched
    assert dict(os.environ) == before
    assert not is_lithops_worker()
    with FunctionExecutor(log_level=None) as plain:  # the config file's backend, not the one calls ran on
        assert plain.backend == "inprocess"


def test_extra_env_is_refused_for_calls_in_the_client_process(inprocess):
    with FunctionExecutor(config=inprocess_config("template"), log_level=None) as fexec:
        first = fexec.map(read_env, ["LITHOPS_TEST_ONE"] * 4, extra_env={"LITHOPS_TEST_ONE": "1"})
        second = fexec.map(read_env, ["LITHOPS_TEST_ONE"] * 4, extra_env={"LITHOPS_TEST_TWO": "2"})
        fexec.wait(first + second, throw_except=False, timeout=30)
    for future in first + second:
        with pytest.raises(ConfigError, match=r"extra_env cannot be applied to calls that run in the client's "
                                              r"own process \(backend 'template'"):
            future.result()
    assert "LITHOPS_TEST_ONE" not in os.environ and "LITHOPS_TEST_TWO" not in os.environ
