"""aliyun_fc: the control plane against the local FC 3.0 API, execution in its local instances, faults."""

from __future__ import annotations

import base64
import io
import json
import socket
import time
import uuid
import zipfile
from typing import Any

import pytest
from alibabacloud_fc20230330 import models
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

import lithops
from conftest import (
    ACCOUNT,
    IMAGE,
    KEY_ID,
    KEY_SECRET,
    OTHER_PYTHON,
    OTHER_PYTHON_IMAGE,
    REGION,
    ROLE,
    fc_config,
    make_bucket,
)
from lithops.backends.runtime import CLIENT_PYTHON
from lithops.errors import BackendError, ConfigError, FunctionTimeoutError, WorkerDiedError
from lithops_aliyun.fc.functions import FC_PYTHONS, FCFunctions, function_name
from lithops_aliyun.fc.package import HANDLER, build_code_zip
from lithops_aliyun.fc.runtime import FCRuntimeBuilder, pip_command
from lithops_aliyun.testing.fc_server import LocalFCServer, find_python


@pytest.fixture
def bucket(oss_server: Any) -> str:
    name = f"lithops-{uuid.uuid4().hex[:8]}"
    make_bucket(oss_server, name)
    return name


@pytest.fixture
def config(fc_server: LocalFCServer, oss_server: Any, bucket: str) -> dict[str, Any]:
    return fc_config(fc_server.url, oss_server.url, bucket)


def _sdk(url: str, key_id: str = KEY_ID, secret: str = KEY_SECRET) -> Client:
    host = url.split("://", 1)[1]
    return Client(Config(access_key_id=key_id, access_key_secret=secret, region_id=REGION, endpoint=host,
                         protocol="http"))


def _section(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    from lithops.config import default_config

    return dict(default_config(config)["aliyun_fc"], **changes)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- names, config ------------------------------------------------------------------------------------------------
def test_function_names_are_valid_for_fc_and_distinct() -> None:
    runtimes = ("default-runtime-v311", "numpy", IMAGE, "registry.cn-beijing.aliyuncs.com/a/very-long-repository-"
                "name-that-goes-on-and-on-and-on:2024-01-01")
    names = {function_name(rt, mem) for rt in runtimes for mem in (256, 1024)}
    assert len(names) == 8
    for name in names:
        assert len(name) <= 64 and name[0].isalpha() and all(c.isalnum() or c in "-_" for c in name)
    assert function_name("numpy", 512) == "lithops-4-0-0-dev0-numpy-512mb"


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("max_workers", 301, "at most 300 instances at once"),
    ("runtime_memory", 200, "multiple of 64 MiB from 128 to 32768"),
    ("runtime_timeout", 90000, "1 to 86400 seconds"),
    ("role_arn", "arn:aws:iam::1:role/x", "must be a RAM role ARN"),
])
def test_values_fc_refuses_are_config_errors(config: dict[str, Any], key: str, value: Any, expected: str) -> None:
    config["aliyun_fc"][key] = value
    with pytest.raises(ConfigError, match=expected):
        lithops.FunctionExecutor(config=config)


def test_a_region_without_function_compute_is_a_clear_error(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="not available in region 'cn-nowhere-1'"):
        FCFunctions(_section(config, endpoint=None, region="cn-nowhere-1"))


def test_secrets_are_masked_when_config_is_shown(config: dict[str, Any], tmp_path: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml
    from click.testing import CliRunner

    from lithops.cli.main import cli

    config["aliyun"].update(access_key_id="LTAIvisibleKeyId", access_key_secret="very-secret-value",
                            security_token="sts-token-value")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(path))
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "aliyun_fc:" in result.output and "access_key_secret" in result.output
    for secret in ("LTAIvisibleKeyId", "very-secret-value", "sts-token-value"):
        assert secret not in result.output


# -- execution ----------------------------------------------------------------------------------------------------
def test_map_map_reduce_and_a_data_map_over_oss(config: dict[str, Any], oss_server: Any, bucket: str) -> None:
    from lithops_aliyun.oss.storage import OSSStorage

    storage = OSSStorage(dict(config["aliyun_oss"], region=REGION))
    for i in range(3):
        storage.put_object(bucket, f"input/part-{i}.txt", "".join(f"w{i}\n" for _ in range(i + 1)))

    def count_lines(obj: Any) -> int:
        return len(obj.data_stream.read().splitlines())

    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map(lambda x: x * 2, range(6)).get_result() == [0, 2, 4, 6, 8, 10]
        assert fexec.map_reduce(lambda x: x + 1, range(5), sum).get_result() == 15
        assert sorted(fexec.map(count_lines, f"oss://{bucket}/input/").get_result()) == [1, 2, 3]


def test_out_of_memory_fails_the_call_clearly(config: dict[str, Any]) -> None:
    config["aliyun_fc"]["runtime_memory"] = 256

    def hog(_: int) -> int:
        blocks = [bytearray(64 * 1024 * 1024) for _ in range(8)]
        return len(blocks)

    with lithops.FunctionExecutor(config=config) as fexec:
        future = fexec.call_async(hog, 0)
        with pytest.raises(WorkerDiedError, match=r"256 MiB of memory: raise aliyun_fc\.runtime_memory"):
            future.result(timeout=120)


def test_a_call_reaching_the_function_timeout_fails_clearly(config: dict[str, Any]) -> None:
    config["aliyun_fc"].update(runtime_timeout=6, runtime_memory=576)  # a function of its own
    with lithops.FunctionExecutor(config=config) as fexec:
        future = fexec.call_async(time.sleep, 30)
        with pytest.raises(FunctionTimeoutError, match=r"Function Compute function reached its timeout of about 6 s"
                                                       r".*Raise aliyun_fc\.runtime_timeout"):
            future.result(timeout=60)


def test_events_over_128_kib_go_through_storage(config: dict[str, Any], fc_server: LocalFCServer, oss_server: Any,
                                                bucket: str) -> None:
    def big_env(_: int) -> int:
        import os

        return len(os.environ["BIG"])

    with lithops.FunctionExecutor(config=config) as fexec:  # extra_env travels in the worker payload
        assert fexec.map(big_env, [1, 2], extra_env={"BIG": "x" * 200_000}).get_result() == [200_000, 200_000]
    assert [p for m, p in oss_server.requests if m == "PUT" and "/fc_payload_" in p and p.startswith(f"/{bucket}/")]
    # and the API refuses such an event sent as it is
    client = _sdk(fc_server.url)
    name = next(iter(fc_server.functions))
    with pytest.raises(Exception, match="PayloadTooLarge"):
        client.invoke_function_with_options(name, models.InvokeFunctionRequest(body=b"x" * 200_000),
                                            models.InvokeFunctionHeaders(x_fc_invocation_type="Async"),
                                            RuntimeOptions())


def test_instances_stay_within_the_limit_and_sync_calls_over_it_are_throttled(
        config: dict[str, Any], fc_server: LocalFCServer) -> None:
    with lithops.FunctionExecutor(config=config) as fexec:
        fexec.map(time.sleep, [0.3] * 20).get_result()
        assert fc_server.peak_instances <= fc_server.instance_limit
    taken = 0
    while fc_server.slots.acquire(timeout=5):  # every instance of the region busy
        taken += 1
        if taken == fc_server.instance_limit:
            break
    try:
        with pytest.raises(Exception, match="ResourceThrottled"):
            _sdk(fc_server.url).invoke_function(function_name(IMAGE, 512), models.InvokeFunctionRequest(body=b"{}"))
    finally:
        for _ in range(taken):
            fc_server.slots.release()


# -- faults of the control plane ----------------------------------------------------------------------------------
def test_wrong_keys_are_a_clear_error_with_alibabas_message(config: dict[str, Any]) -> None:
    section = _section(config, access_key_id="LTAIwrong", access_key_secret="nope", runtime_memory=1024)
    with pytest.raises(BackendError, match=r"refused the credentials \(InvalidAccessKeyId.NotFound: "):
        FCFunctions(section).ensure(IMAGE, 1024)


def test_a_role_that_does_not_exist_is_a_clear_error(config: dict[str, Any]) -> None:
    section = _section(config, role_arn=f"acs:ram::{ACCOUNT}:role/no-such-role", runtime_memory=1088)
    with pytest.raises(BackendError, match=r"failed to assume role .*no-such-role.* trust policy allows "
                                           r"fc.aliyuncs.com"):
        FCFunctions(section).ensure(IMAGE, 1088)


def test_an_image_fc_cannot_pull_fails_the_deploy_clearly(config: dict[str, Any]) -> None:
    section = _section(config, runtime="registry.cn-hangzhou.aliyuncs.com/x/missing:1")
    with pytest.raises(BackendError, match=r"failed to deploy: pull image .*missing:1 failed"):
        FCFunctions(section).ensure(None, 512)


def test_fc_endpoint_down_is_a_clear_error_without_hanging(config: dict[str, Any]) -> None:
    section = _section(config, endpoint=f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    with pytest.raises(BackendError, match="did not answer"):
        FCFunctions(section).ensure(IMAGE, 512)
    assert time.monotonic() - start < 30


def test_oss_down_is_a_clear_error_without_hanging(config: dict[str, Any]) -> None:
    config["aliyun_oss"]["endpoint"] = f"http://127.0.0.1:{_closed_port()}"
    config["aliyun_oss"]["max_attempts"] = 1
    start = time.monotonic()
    with lithops.FunctionExecutor(config=config) as fexec, pytest.raises(BackendError, match="did not answer"):
        fexec.call_async(abs, -1)
    assert time.monotonic() - start < 60


def test_the_fake_refuses_what_fc_refuses(fc_server: LocalFCServer) -> None:
    client = _sdk(fc_server.url)
    zip_b64 = base64.b64encode(build_code_zip()).decode()
    good = {"functionName": "f-ok", "runtime": "python3.10", "handler": HANDLER, "role": ROLE,
            "code": {"zipFile": zip_b64}, "memorySize": 128, "timeout": 10}
    bad = [({"functionName": "9starts-with-digit"}, "functionName"), ({"runtime": "python2.7"}, "not supported"),
           ({"memorySize": 100}, "memorySize 100"), ({"timeout": 0}, "timeout 0"), ({"role": "x"}, "RAM role ARN"),
           ({"handler": "no_such_module.handler"}, "not in the code"), ({"code": {}}, "code is required"),
           ({"layers": ["acs:fc:cn-hangzhou:1:layers/none/versions/1"]}, "does not exist")]
    for change, message in bad:
        body = models.CreateFunctionInput().from_map({**good, **change})
        with pytest.raises(Exception, match=message):
            client.create_function(models.CreateFunctionRequest(body=body))
    with pytest.raises(Exception, match="SignatureNotMatch"):
        _sdk(fc_server.url, secret="wrong-secret").list_functions(models.ListFunctionsRequest())


# -- the managed Python runtime -----------------------------------------------------------------------------------
def test_runtime_mode_refuses_a_client_python_fc_has_not_before_sending(config: dict[str, Any],
                                                                        fc_server: LocalFCServer) -> None:
    if CLIENT_PYTHON in FC_PYTHONS:
        pytest.skip(f"FC has a Python {CLIENT_PYTHON} runtime")
    config["aliyun_fc"].update(deploy_mode="runtime", runtime=None)
    before = len(fc_server.requests)
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=f"no managed Python {CLIENT_PYTHON} runtime .* custom-container"):
            fexec.call_async(abs, -1)
    assert not [r for r in fc_server.requests[before:] if r[0] != "GET"]


def test_the_code_zip_runs_on_the_managed_runtime_with_fcs_event_and_context(fc_server: LocalFCServer) -> None:
    """A zip function (Lithops' code zip, an empty layer) on FC's python3.10 runtime answers an event through FC's
    Python handler interface, run by a Python 3.10 interpreter.
    """
    if find_python("3.10") is None:
        pytest.skip("no Python 3.10 interpreter on this machine to play FC's python3.10 runtime")
    client = _sdk(fc_server.url)
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("python/.keep", "")
    arn = client.create_layer_version("lithops_test_py310", models.CreateLayerVersionRequest(
        body=models.CreateLayerVersionInput(code=models.InputCodeLocation(
            zip_file=base64.b64encode(layer.getvalue()).decode()), compatible_runtime=["python3.10"]))
    ).body.layer_version_arn
    name = f"zip-{uuid.uuid4().hex[:6]}"
    body = models.CreateFunctionInput().from_map({
        "functionName": name, "runtime": "python3.10", "handler": HANDLER, "role": ROLE, "memorySize": 256,
        "timeout": 30, "layers": [arn], "code": {"zipFile": base64.b64encode(build_code_zip()).decode()}})
    client.create_function(models.CreateFunctionRequest(body=body))
    deadline = time.monotonic() + 10
    while client.get_function(name, models.GetFunctionRequest()).body.state != "Active":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    answer = client.invoke_function(name, models.InvokeFunctionRequest(body=b'{"lithops_action": "metadata"}'))
    meta = json.loads(answer.body.read())
    assert meta["python_version"] == "3.10" and meta["protocol"] >= 1


def test_an_image_of_another_python_is_refused_before_anything_is_sent(config: dict[str, Any],
                                                                       fc_server: LocalFCServer) -> None:
    if find_python(OTHER_PYTHON) is None:
        pytest.skip(f"no Python {OTHER_PYTHON} interpreter on this machine to play an image built from it")
    config["aliyun_fc"]["runtime"] = OTHER_PYTHON_IMAGE
    before = len(fc_server.async_results)
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=rf"runs Python {OTHER_PYTHON}, but this client runs Python "
                                               rf"{CLIENT_PYTHON}.*Nothing was sent.*rebuild the image"):
            fexec.call_async(abs, -1)
    time.sleep(0.5)
    assert len(fc_server.async_results) == before  # the only invocation was the synchronous metadata one


def test_the_code_zip_holds_the_handler_and_no_binaries() -> None:
    names = zipfile.ZipFile(io.BytesIO(build_code_zip())).namelist()
    assert "lithops_aliyun/fc/entry_point.py" in names and "lithops/worker/invocation.py" in names
    assert any(n.startswith("cloudpickle/") for n in names)
    assert not [n for n in names if n.endswith((".so", ".pyc"))]


def test_layer_wheels_are_chosen_for_fcs_platform() -> None:
    cmd = pip_command("/tmp/x", ["numpy"], python="3.10")
    assert cmd[cmd.index("--python-version") + 1] == "3.10" and "--only-binary=:all:" in cmd
    platforms = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--platform"]
    assert "manylinux2014_x86_64" in platforms and "manylinux_2_28_x86_64" in platforms
    assert "manylinux_2_31_x86_64" not in platforms  # newer than the glibc of FC's runtimes


# -- runtime builder ----------------------------------------------------------------------------------------------
def test_runtime_deploy_list_and_delete(config: dict[str, Any], fc_server: LocalFCServer) -> None:
    builder = FCRuntimeBuilder(_section(config, namespace="rt"), config)
    meta = builder.deploy(IMAGE, 640)
    assert meta["python_version"] == CLIENT_PYTHON
    assert fc_server.async_configs[meta["function_name"]]["maxAsyncRetryAttempts"] == 0
    listed = builder.list()
    assert [(f["runtime_name"], f["memory"]) for f in listed] == [(IMAGE, 640)]
    builder.delete(IMAGE)
    assert builder.list() == [] and meta["function_name"] not in fc_server.functions


def test_runtime_build_without_a_container_tool_or_a_managed_python_is_a_clear_error(
        config: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lithops.backends.containers import NoContainerToolError

    monkeypatch.setenv("PATH", str(tmp_path))  # no docker, podman or buildah
    monkeypatch.delenv("LITHOPS_CONTAINER_TOOL", raising=False)
    with pytest.raises(NoContainerToolError, match="deploy_mode: runtime, whose layers need no container tool"):
        FCRuntimeBuilder(_section(config), config).build(IMAGE)
    if CLIENT_PYTHON not in FC_PYTHONS:
        builder = FCRuntimeBuilder(_section(config, deploy_mode="runtime", runtime=None), config)
        with pytest.raises(BackendError, match=f"no managed Python {CLIENT_PYTHON} runtime"):
            builder.build("my-runtime")


def test_cancelling_a_job_stops_its_async_tasks(config: dict[str, Any], fc_server: LocalFCServer) -> None:
    config["aliyun_fc"]["max_workers"] = 16  # twice the local FC's 8 instances: half the tasks wait in its queue
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(time.sleep, [2] * 16)
        key = futures[0].job_key
        fexec.compute.cancel_jobs({key})
        from lithops_aliyun.fc.backend import task_prefix

        name = function_name(IMAGE, 512)
        deadline = time.monotonic() + 30
        while True:
            tasks = [t for t in fc_server.tasks.get(name, {}).values() if t["taskId"].startswith(task_prefix(key))]
            if len(tasks) == 16 and all(t["status"] in ("Succeeded", "Stopped") for t in tasks):
                break
            assert time.monotonic() < deadline, [t["status"] for t in tasks]
            time.sleep(0.2)
        assert sum(t["status"] == "Stopped" for t in tasks) >= 8
        fexec.clean(fs=futures, force=True)
