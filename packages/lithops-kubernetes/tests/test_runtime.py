"""The runtime builders: build and push with a container tool (a stand-in that records its commands), the
nodes' architecture, and the k8s runtime's record (deploy, list, delete)."""

from __future__ import annotations

import stat
from typing import Any

import pytest

from conftest import IMAGE, make_config
from lithops.backends.containers import NoContainerToolError
from lithops_kubernetes.k8s.runtime import K8sRuntimeBuilder


@pytest.fixture
def recording_tool(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A container tool that records each command line (and what it reads on stdin) and succeeds."""
    log = tmp_path / "tool.log"
    tool = tmp_path / "docker"
    tool.write_text(f'#!/bin/sh\necho "$@" >> {log}\nif [ "$1" = login ]; then cat >> {log}; echo >> {log}; fi\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("LITHOPS_CONTAINER_TOOL", str(tool))
    return log


def test_build_for_the_nodes_architecture_and_push(cluster: Any, storage_root: str, recording_tool: Any) -> None:
    config = make_config(cluster, storage_root, docker_server="registry.example.com", docker_user="me",
                         docker_password="s3cret")
    builder = K8sRuntimeBuilder(config["k8s"], config)
    cluster.arch = "arm64"
    try:
        builder.build("registry.example.com/me/lithops-rt:2")
    finally:
        cluster.arch = "amd64"
    lines = recording_tool.read_text().splitlines()
    assert lines[0].startswith("build --platform linux/arm64 -t registry.example.com/me/lithops-rt:2 ")
    assert lines[1:3] == ["login --username me --password-stdin registry.example.com", "s3cret"]
    assert lines[3] == "push registry.example.com/me/lithops-rt:2"


def test_build_without_a_container_tool(cluster: Any, storage_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITHOPS_CONTAINER_TOOL", "no-such-tool")
    config = make_config(cluster, storage_root, runtime_arch="amd64")
    with pytest.raises(NoContainerToolError, match="LITHOPS_CONTAINER_TOOL is 'no-such-tool'"):
        K8sRuntimeBuilder(config["k8s"], config).build("")


def test_deploy_records_the_runtime_list_shows_it_delete_forgets_it(cluster: Any, storage_root: str) -> None:
    config = make_config(cluster, storage_root)
    builder = K8sRuntimeBuilder(config["k8s"], config)
    meta = builder.deploy(IMAGE)
    assert meta["runtime_name"] == IMAGE and meta["python_version"].count(".") == 1
    assert IMAGE in [r["runtime_name"] for r in builder.list()]
    builder.delete(IMAGE)
    assert IMAGE not in [r["runtime_name"] for r in builder.list()]
