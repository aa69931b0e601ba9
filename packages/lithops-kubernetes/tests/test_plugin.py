"""How the plugin presents itself: the install hint when it is missing, config validation, Lithops 3.x keys."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from conftest import make_config
from lithops import FunctionExecutor
from lithops.errors import ConfigError


@pytest.mark.parametrize("backend", ["k8s", "knative"])
def test_backend_without_the_package_names_it(backend: str, tmp_path: Any) -> None:
    """``-b k8s`` with lithops-kubernetes absent says which package to install, not "unknown compute backend"."""
    code = ("import lithops\n"
            "try:\n"
            f"    lithops.FunctionExecutor(backend={backend!r})\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n")
    env = {"LITHOPS_DISABLED_PLUGINS": "lithops-kubernetes", "LITHOPS_CONFIG_FILE": str(tmp_path / "none.yaml"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    (tmp_path / "none.yaml").write_text("")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60).stdout
    assert f"compute backend '{backend}' is provided by lithops-kubernetes, which is not installed" in out
    assert "pip install lithops-kubernetes" in out


def test_bad_values_are_config_errors(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, namespace="Not_A_Namespace", pod_security="privileged")
    with pytest.raises(ConfigError) as info:
        FunctionExecutor(config=config, log_level=None)
    assert "namespace is 'Not_A_Namespace'" in str(info.value) and "pod_security" in str(info.value)


def test_lithops3_keys_without_effect_warn(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root, rabbitmq_executor=True)
    with pytest.warns(UserWarning, match="k8s.rabbitmq_executor has no effect"):
        FunctionExecutor(config=config, log_level=None).close()
