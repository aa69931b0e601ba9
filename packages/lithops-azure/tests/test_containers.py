"""azure_containers end to end on local parts: the management SDK against the local Resource Manager (long-running
operations, strict checks), calls delivered through an Azurite queue to our replica code running as processes."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

import lithops
from conftest import containers_config
from lithops.errors import BackendError, WorkerDiedError
from lithops.testing import ComputeContract


class TestContainerAppsCompute(ComputeContract):
    # Messages already on the queue cannot be held back by the client.
    skip_capabilities = {"cancel"}

    @pytest.fixture
    def config(self, arm: Any, azurite: Any, container_apps: Any, shared_bucket: str) -> dict[str, Any]:
        return containers_config(arm, azurite, shared_bucket)


def _double(x: int) -> int:
    return x * 2


def test_map_reduce_and_data_map_over_blobs(arm: Any, azurite: Any, container_apps: Any, shared_bucket: str) -> None:
    config = containers_config(arm, azurite, shared_bucket)
    storage = lithops.Storage(config=config)
    for i in range(3):
        storage.put_object(shared_bucket, f"cadata/{i}.txt", b"a b c\n" * (i + 1))

    def words(obj: Any) -> int:
        return len(obj.data_stream.read().split())

    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map_reduce(_double, range(5), sum).get_result() == 20
        assert sorted(fexec.map(words, f"az://{shared_bucket}/cadata/").get_result()) == [3, 6, 9]


def _app_of(arm: Any, image: str) -> dict[str, Any]:
    return next(r for r in arm.resources.values()
                if r["type"] == "Microsoft.App/containerApps" and r["tags"]["lithops-runtime"] == image)


def test_other_python_refused_before_sending(arm: Any, azurite: Any, container_apps: Any,
                                             shared_bucket: str) -> None:
    config = containers_config(arm, azurite, shared_bucket, runtime="lithops-oldpython:1")
    with lithops.FunctionExecutor(config=config) as fexec:
        fexec.call_async(_double, 1).result()
    _app_of(arm, "lithops-oldpython:1")["tags"]["lithops-python"] = "3.8"
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=r"runs Python 3\.8.*Nothing was sent.*image built from Python"):
            fexec.call_async(_double, 1)


@pytest.mark.parametrize(("change", "message"), [
    ({"resource_group": "missing-rg"}, r"ResourceGroupNotFound.*az group create"),
    ({"environment": "missing-env"}, r"ManagedEnvironmentNotFound: Managed environment .*missing-env"),
    ({"runtime_memory": 1024, "runtime": "lithops-unregistered:1"},
     r"MissingSubscriptionRegistration.*az provider register --namespace Microsoft\.App"),
])
def test_deploy_errors_carry_azures_message(arm: Any, azurite: Any, shared_bucket: str, change: dict[str, Any],
                                            message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if "runtime" in change:
        monkeypatch.setattr(arm, "providers", {"Microsoft.Web"})
    section = {k: v for k, v in change.items() if k != "resource_group"}
    config = containers_config(arm, azurite, shared_bucket, **section)
    config["azure"].update({k: v for k, v in change.items() if k == "resource_group"})
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=message):
            fexec.call_async(_double, 1)


def test_wrong_token_and_endpoint_down_are_clear(arm: Any, azurite: Any, shared_bucket: str) -> None:
    config = containers_config(arm, azurite, shared_bucket)
    config["azure"]["access_token"] = "expired"
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=r"AzureCredentialsError.*InvalidAuthenticationToken.*az account "
                                               r"get-access-token"):
            fexec.call_async(_double, 1)
    config["azure"].update(access_token=arm.token, arm_endpoint="http://127.0.0.1:9")
    start = time.monotonic()
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match="cannot reach Azure"):
            fexec.call_async(_double, 1)
    assert time.monotonic() - start < 90


def test_poison_message_moves_aside_and_replicas_go_on(arm: Any, azurite: Any, container_apps: Any,
                                                        shared_bucket: str) -> None:
    from lithops_azure.auth import queue_client, queue_service

    config = containers_config(arm, azurite, shared_bucket)
    with lithops.FunctionExecutor(config=config) as fexec:
        fexec.call_async(_double, 1).result()
        queue_name = _app_of(arm, "lithops-test:1")["name"]
        queues = queue_service(config["azure_storage"])
        queue_client(queues, queue_name).send_message(b"not a payload")
        deadline = time.monotonic() + 30
        poison = queue_client(queues, f"{queue_name}-poison")
        # the client's poison watcher receives it now and then (hiding it for a moment): keep what one peek saw
        while not (peeked := list(poison.peek_messages())):
            assert time.monotonic() < deadline, "the poison message never reached the poison queue"
            time.sleep(0.2)
        moved = json.loads(peeked[0].content)
        assert moved["message"] == "not a payload" and "not JSON" in moved["lithops_poison"]
        assert fexec.call_async(_double, 21).result() == 42


def _slow(x: int) -> int:
    time.sleep(4)
    return x + 1


@pytest.mark.parametrize("max_deliveries", [3, 1])
def test_killed_replica(arm: Any, azurite: Any, container_apps: Any, shared_bucket: str,
                        max_deliveries: int) -> None:
    """Replicas killed mid-call: the message comes back after queue_visibility and runs again, or, on its last
    delivery, its call fails with WorkerDiedError at once. Nothing hangs."""
    image = f"lithops-kill-{max_deliveries}:1"
    config = containers_config(arm, azurite, shared_bucket, runtime=image, max_deliveries=max_deliveries)
    with lithops.FunctionExecutor(config=config) as fexec:
        future = fexec.call_async(_slow, 1)
        storage = lithops.Storage(config=config)
        prefix = f"lithops.jobs/{future.executor_id}/{future.job_id}/"
        deadline = time.monotonic() + 60
        while not any("started" in k for k in storage.list_keys(shared_bucket, prefix)):
            assert time.monotonic() < deadline, "the call never started"
            time.sleep(0.2)
        container_apps.restart(_app_of(arm, image)["name"])
        if max_deliveries > 1:
            assert future.result(timeout=60) == 2
        else:
            with pytest.raises(WorkerDiedError, match="delivered 2 times"):
                future.result(timeout=60)


def test_runtime_deploy_list_delete(arm: Any, azurite: Any, container_apps: Any, shared_bucket: str) -> None:
    """What 'lithops runtime deploy' creates, 'list' shows and 'delete' removes (app and queues)."""
    from lithops_azure.auth import queue_service
    from lithops_azure.runtime import ContainersRuntimeBuilder

    config = containers_config(arm, azurite, shared_bucket)
    section = {**config["azure"], **config["azure_storage"], **config["azure_containers"]}
    section.pop("storage_bucket")
    builder = ContainersRuntimeBuilder(section, config)
    deployed = builder.deploy("lithops-runtime-cli:1", 1024)
    assert deployed["memory"] == 1024 and deployed["python_version"]
    listed = [r for r in builder.list() if r["runtime_name"] == "lithops-runtime-cli:1"]
    assert [r["memory"] for r in listed] == [1024]
    queues = {q.name for q in queue_service(section).list_queues()}
    assert {deployed["queue"], f"{deployed['queue']}-poison"} <= queues
    builder.delete("lithops-runtime-cli:1")
    assert not [r for r in builder.list() if r["runtime_name"] == "lithops-runtime-cli:1"]
    assert deployed["queue"] not in {q.name for q in queue_service(section).list_queues()}
    assert deployed["container_app"] not in container_apps.running


def test_memory_sizes_checked_before_deploy(arm: Any, azurite: Any, shared_bucket: str) -> None:
    from lithops.errors import ConfigError

    with pytest.raises(ConfigError, match=r"runtime_memory is 700 MiB.*choose one of 512, 1024"):
        lithops.FunctionExecutor(config=containers_config(arm, azurite, shared_bucket, runtime_memory=700))
    config = containers_config(arm, azurite, shared_bucket)
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=r"runtime_memory 700 MiB is not a size Container Apps offers"):
            fexec.call_async(_double, 1, runtime_memory=700)


def test_storage_down_is_a_clear_error(arm: Any, azurite: Any, shared_bucket: str) -> None:
    """Azurite (the storage account) down: the job fails to start with an error naming it, and nothing hangs."""
    from lithops_azure.testing.azurite import Azurite

    down = Azurite()
    down.blob_port = down.queue_port = 9  # nothing listens there
    config = containers_config(arm, azurite, shared_bucket, runtime="lithops-storage-down:1")
    config["azure_storage"].update(connection_string=down.connection_string, max_attempts=1, connection_timeout=2)
    start = time.monotonic()
    with pytest.raises(Exception, match="cannot reach Azure"):
        with lithops.FunctionExecutor(config=config) as fexec:
            fexec.call_async(_double, 1).result()
    assert time.monotonic() - start < 60


def test_lithops_hello_first_try(arm: Any, azurite: Any, container_apps: Any, shared_bucket: str,
                                 tmp_path: Any) -> None:
    """`lithops hello -b azure_containers` from a config file, in a new process: the first run deploys and answers."""
    import subprocess
    import sys

    import yaml

    config = containers_config(arm, azurite, shared_bucket, runtime="lithops-hello:1")
    del config["lithops"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cli = os.path.join(os.path.dirname(sys.executable), "lithops")  # the command of this environment
    proc = subprocess.run([cli, "hello", "-b", "azure_containers"],
                          env={**os.environ, "LITHOPS_CONFIG_FILE": str(path)}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Hello" in proc.stdout + proc.stderr
