"""aws_lambda: control plane against moto's server, execution through the local Lambda Invoke service, faults."""

from __future__ import annotations

import collections
import io
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from typing import Any

import boto3
import pytest
import yaml

import lithops
from conftest import lambda_config, make_bucket
from lithops.errors import BackendError, FunctionTimeoutError, WorkerDiedError
from lithops_aws.aws_lambda.backend import backoff_delay
from lithops_aws.aws_lambda.functions import (
    CLIENT_PYTHON,
    DEFAULT_ROLE_NAME,
    LambdaFunctions,
    default_runtime_name,
    function_name,
)
from lithops_aws.aws_lambda.package import HANDLER, build_code_zip
from lithops_aws.aws_lambda.runtime import LambdaRuntimeBuilder
from lithops_aws.testing.lambda_server import LocalLambdaServer


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


@pytest.fixture
def bucket(moto: Any) -> str:
    name = f"lithops-{uuid.uuid4().hex[:8]}"
    make_bucket(moto.url, name)
    return name


@pytest.fixture
def config(moto: Any, lambda_server: Any, bucket: str) -> dict[str, Any]:
    return lambda_config(moto.url, lambda_server.url, bucket)


def _section(config: dict[str, Any]) -> dict[str, Any]:
    from lithops.config import default_config

    return dict(default_config(config)["aws_lambda"])


# -- names and code -----------------------------------------------------------------------------------------------
def test_function_names_are_valid_and_distinct() -> None:
    names = {function_name(rt, mem) for rt in ("default-runtime-v311", "numpy-rt", "my-img:1",
                                                "123456789012.dkr.ecr.us-east-1.amazonaws.com/a/very/long/"
                                                "repository-name-that-goes-on-and-on:2024-01-01")
             for mem in (256, 1024)}
    assert len(names) == 8
    for name in names:
        assert len(name) <= 64 and name.startswith("lithops-worker-")
        assert all(c.isalnum() or c == "-" for c in name)
    assert function_name("numpy-rt", 512) == "lithops-worker-4-0-0-dev0-numpy-rt-512mb"
    assert function_name("numpy-rt", 512, "arm64").endswith("-512mb-arm64")


def test_code_zip_holds_lithops_and_no_binaries() -> None:
    names = zipfile.ZipFile(io.BytesIO(build_code_zip())).namelist()
    assert "lithops_aws/aws_lambda/entry_point.py" in names
    assert "lithops/worker/handler.py" in names
    assert any(n.startswith("cloudpickle/") for n in names) and any(n.startswith("yaml/") for n in names)
    assert not [n for n in names if n.endswith((".so", ".pyc"))]
    assert build_code_zip() == build_code_zip()


def test_backoff_has_full_jitter_under_a_cap() -> None:
    delays = [backoff_delay(a, 0.1, 2.0) for a in range(12) for _ in range(20)]
    assert all(0 <= d <= 2.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100


# -- control plane against moto -----------------------------------------------------------------------------------
def test_deploy_creates_role_and_function(moto: Any, config: dict[str, Any]) -> None:
    functions = LambdaFunctions(_section(config))
    info = functions.ensure(None, 512)
    user_key = functions.user_key()
    assert len(user_key) == 4
    assert info.name == function_name(default_runtime_name(), 512, user_key=user_key)
    assert info.name.startswith(f"lithops-worker-{user_key}-")
    assert info.python == CLIENT_PYTHON
    lam, iam = _client("lambda", moto.url), _client("iam", moto.url)
    conf = lam.get_function(FunctionName=info.name)["Configuration"]
    assert conf["Runtime"] == f"python{CLIENT_PYTHON}" and conf["Handler"] == HANDLER
    assert conf["MemorySize"] == 512 and conf["Timeout"] == 60
    assert conf["Role"] == iam.get_role(RoleName=DEFAULT_ROLE_NAME)["Role"]["Arn"]
    trust = iam.get_role(RoleName=DEFAULT_ROLE_NAME)["Role"]["AssumeRolePolicyDocument"]
    assert "lambda.amazonaws.com" in json.dumps(trust)
    assert iam.list_role_policies(RoleName=DEFAULT_ROLE_NAME)["PolicyNames"] == ["lithops-lambda"]
    assert lam.get_function_event_invoke_config(FunctionName=info.name)["MaximumRetryAttempts"] == 0
    assert [f["function_name"] for f in functions.list()] == [info.name]
    # a second client finds it, reuses the role, and does not redeploy
    again = LambdaFunctions(_section(config)).ensure(None, 512)
    assert again.arn == info.arn
    assert len(iam.list_roles()["Roles"]) == 1
    functions.delete(None)
    assert functions.list() == []


def test_configured_execution_role_is_used_as_is(moto: Any, config: dict[str, Any]) -> None:
    iam = _client("iam", moto.url)
    config["aws_lambda"]["execution_role"] = "arn:aws:iam::123456789012:role/missing-role"
    with pytest.raises(BackendError, match=r"cannot assume the execution role .*missing-role"):
        LambdaFunctions(_section(config)).ensure(None, 256)
    role = iam.create_role(RoleName="my-own-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    config["aws_lambda"]["execution_role"] = role
    info = LambdaFunctions(_section(config)).ensure(None, 256)
    assert _client("lambda", moto.url).get_function(FunctionName=info.name)["Configuration"]["Role"] == role
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["my-own-role"]


def test_runtime_python_must_match_the_client(moto: Any, config: dict[str, Any]) -> None:
    other = "3.9" if CLIENT_PYTHON != "3.9" else "3.10"
    name = LambdaFunctions(_section(config)).function_name(None, 256)
    role = _client("iam", moto.url).create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    _client("lambda", moto.url).create_function(
        FunctionName=name, Runtime=f"python{other}", Role=role, Handler=HANDLER, Code={"ZipFile": build_code_zip()})
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError) as info:
            fexec.call_async(abs, -1)
    message = str(info.value)
    assert f"runs Python {other}, but this client runs Python {CLIENT_PYTHON}" in message
    assert "To fix it" in message and f"run this client with Python {other}" in message


def test_layer_runtime_that_was_not_built_says_how_to_build_it(config: dict[str, Any]) -> None:
    fix = "Build it first: 'lithops runtime build -b aws_lambda -f requirements.txt not-built'"
    with pytest.raises(BackendError, match=rf"has no layer .*{fix}"):
        LambdaFunctions(_section(config)).ensure("not-built", 256)


# -- execution through the local Lambda service -------------------------------------------------------------------
def _inc(x: int) -> int:
    return x + 1


def _total(results: list[int]) -> int:
    return sum(results)


def test_map_and_map_reduce(config: dict[str, Any], lambda_server: LocalLambdaServer) -> None:
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.backend == "aws_lambda" and fexec.mode == "serverless"
        assert fexec.map(_inc, range(20), chunksize=3).get_result() == list(range(1, 21))
        assert fexec.map_reduce(_inc, range(10), _total).get_result() == 55
        assert fexec.compute.invocations == 7 + 10 + 1


def _count_words(obj: Any) -> dict[str, int]:
    return dict(collections.Counter(obj.data_stream.read().decode().split()))


def _merge(results: list[dict[str, int]]) -> dict[str, int]:
    total: collections.Counter[str] = collections.Counter()
    for r in results:
        total.update(r)
    return dict(total)


def test_data_map_over_an_s3_prefix(moto: Any, config: dict[str, Any], bucket: str) -> None:
    s3 = _client("s3", moto.url)
    texts = {"books/a.txt": "alpha beta\nbeta gamma\n" * 300, "books/b.txt": "gamma delta\n" * 500,
             "other/c.txt": "not read\n"}
    for key, text in texts.items():
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        result = fexec.map_reduce(_count_words, f"s3://{bucket}/books/", _merge, obj_chunk_size=2048).get_result()
        n_calls = len(fexec.futures) - 1
    assert result == _merge([dict(collections.Counter(t.split())) for k, t in texts.items() if k.startswith("books")])
    assert n_calls > 2


def _import_layer_module(x: int) -> str:
    import lithops_layer_probe  # only in the layer

    return f"{lithops_layer_probe.VALUE}-{x}"


def _probe_optional(name: str) -> list[str | None]:
    """How code probing an optional package sees a missing one: find_spec's answer, and what import raises."""
    import importlib.util

    try:
        __import__(name)
        raised = None
    except ImportError as exc:
        raised = type(exc).__mro__[1].__name__  # ModuleNotFoundError's base: caught as ImportError
    return [importlib.util.find_spec(name), raised]


def _make_wheel(folder: Any, name: str = "lithops_layer_probe", tag: str = "py3-none-any") -> str:
    """A tiny wheel (pure Python, whatever its tag says), so the layer build needs no network."""
    path = folder / f"{name}-1.0-{tag}.whl"
    dist = f"{name}-1.0.dist-info"
    pure = "true" if tag == "py3-none-any" else "false"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/__init__.py", "VALUE = 'from-the-layer'\n")
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n")
        zf.writestr(f"{dist}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: {pure}\nTag: {tag}\n")
        zf.writestr(f"{dist}/RECORD", "")
    return str(path)


def test_layer_wheels_are_chosen_for_the_runtime_glibc_and_architecture(config: dict[str, Any],
                                                                          tmp_path: Any) -> None:
    from lithops_aws.aws_lambda.runtime import pip_platforms

    assert pip_platforms("3.11", "x86_64")[-1] == "manylinux_2_26_x86_64"  # Amazon Linux 2
    assert "manylinux_2_28_x86_64" not in pip_platforms("3.10", "x86_64")
    assert pip_platforms("3.12", "arm64")[-1] == "manylinux_2_34_aarch64"  # Amazon Linux 2023
    assert "manylinux2014_aarch64" in pip_platforms("3.11", "arm64")
    py = "cp" + CLIENT_PYTHON.replace(".", "")
    newest = 26 if CLIENT_PYTHON in ("3.9", "3.10", "3.11") else 34
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _make_wheel(wheels, "too_new_glibc", f"{py}-{py}-manylinux_2_{newest + 2}_x86_64")
    _make_wheel(wheels, "fits_x86", f"{py}-{py}-manylinux_2_17_x86_64")
    _make_wheel(wheels, "fits_arm", f"{py}-{py}-manylinux2014_aarch64")
    local = ["--no-index", "--find-links", str(wheels)]
    x86 = LambdaRuntimeBuilder(_section(config), config)
    with pytest.raises(BackendError, match=rf"(?s)glibc 2\.{newest}.*manylinux_2_X with X at most {newest}"):
        x86.build_layer_zip(None, ["too-new-glibc", *local])
    names = zipfile.ZipFile(io.BytesIO(x86.build_layer_zip(None, ["fits-x86", *local]))).namelist()
    assert "python/fits_x86/__init__.py" in names
    config["aws_lambda"]["architecture"] = "arm64"
    arm = LambdaRuntimeBuilder(_section(config), config)
    names = zipfile.ZipFile(io.BytesIO(arm.build_layer_zip(None, ["fits-arm", *local]))).namelist()
    assert "python/fits_arm/__init__.py" in names
    with pytest.raises(BackendError, match="aarch64"):
        arm.build_layer_zip(None, ["fits-x86", *local])
    # without a requirements file, the layer gets Lithops 3.x's default packages
    assert arm.pip_command("t", None)[-7:] == ["numpy", "requests", "redis", "pika", "ps-mem", "tblib", "psutil"]


def test_layer_runtime_built_without_container_tool_runs(
    config: dict[str, Any], tmp_path: Any, moto: Any
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _make_wheel(wheels)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("lithops-layer-probe==1.0\n")
    builder = LambdaRuntimeBuilder(_section(config), config)
    assert "--only-binary=:all:" in builder.pip_command("t", "r") and "manylinux2014_x86_64" in builder.pip_command(
        "t", "r")
    builder.build("probe-rt", file=str(requirements), extra_args=["--no-index", "--find-links", str(wheels)])
    layers = _client("lambda", moto.url).list_layer_versions(
        LayerName=f"lithops_probe-rt_py{CLIENT_PYTHON.replace('.', '')}_x86_64")["LayerVersions"]
    assert len(layers) == 1 and layers[0]["CompatibleRuntimes"] == [f"python{CLIENT_PYTHON}"]
    meta = builder.deploy("probe-rt", memory=256)
    assert meta["python_version"] == CLIENT_PYTHON
    config["aws_lambda"]["runtime"] = "probe-rt"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(_import_layer_module, [1, 2]).get_result() == ["from-the-layer-1", "from-the-layer-2"]
    # the command line sees it through the same builder
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(yaml.safe_dump(config))
    out = subprocess.run([sys.executable, "-c", "from lithops.cli.main import main; main()", "runtime", "list"],
                         capture_output=True, text=True, env={**os.environ, "LITHOPS_CONFIG_FILE": str(cfg_file)})
    assert "probe-rt" in out.stdout and "1 runtime(s) on backend aws_lambda" in out.stdout, out.stderr
    # without the layer the function's isolated sandbox cannot import it: the layer is what provides it
    config["aws_lambda"]["runtime"] = None
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(ModuleNotFoundError, match=r"No module named 'lithops_layer_probe'\. The Lambda runtime "
                                                      r"'default-runtime-v\d+' has Lithops and boto3 only\. Add "
                                                      r"packages with one command: 'lithops runtime build -b "
                                                      r"aws_lambda -f requirements.txt my-runtime' \(without -f it "
                                                      r"installs numpy, requests"):
            fexec.call_async(_import_layer_module, 3).result()
        assert fexec.call_async(_probe_optional, "lithops_layer_probe").result() == [None, "ImportError"]


def test_image_runtime_without_container_tool_is_a_clear_error(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    builder = LambdaRuntimeBuilder(_section(config), config)
    with pytest.raises(BackendError, match=r"needs docker, podman or buildah, and none of them is installed"):
        builder.build("my-image:1")


def test_image_runtime_is_built_and_pushed_with_the_tool_found(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any, moto: Any
) -> None:
    """A stand-in `podman` on PATH records the commands; ECR (moto) gets the repository and login token."""
    log = tmp_path / "calls.txt"
    tool = tmp_path / "podman"
    tool.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n"
                    f"if [ \"$1\" = build ]; then for a; do last=$a; done; "
                    f"/bin/cp \"$last/Dockerfile\" {tmp_path}/Df; fi\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    builder = LambdaRuntimeBuilder(_section(config), config)
    builder.build("lithops-rt:7")
    calls = log.read_text().splitlines()
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/lithops-rt:7"
    assert calls[0].startswith(f"build --platform linux/amd64 -t {uri} -f ")
    assert calls[1].startswith("login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1")
    assert calls[2] == f"push {uri}"
    dockerfile = (tmp_path / "Df").read_text()
    assert dockerfile.startswith(f"FROM public.ecr.aws/lambda/python:{CLIENT_PYTHON}")
    assert f'CMD ["{HANDLER}"]' in dockerfile
    repos = _client("ecr", moto.url).describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repos] == ["lithops-rt"]


def _image_identity(x: int) -> str:
    import os

    return f"{os.environ['AWS_LAMBDA_FUNCTION_NAME']}:{x}"


def test_image_function_is_checked_with_a_metadata_invocation(config: dict[str, Any], moto: Any) -> None:
    config["aws_lambda"]["runtime"] = "lithops-img:3"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        name = fexec.compute.functions.function_name("lithops-img:3", 256)
        assert fexec.call_async(_image_identity, 5).result() == f"{name}:5"
    lam = _client("lambda", moto.url)
    conf = lam.get_function(FunctionName=name)
    assert conf["Configuration"]["PackageType"] == "Image"
    assert conf["Tags"]["lithops_python"] == CLIENT_PYTHON


# -- throttling ---------------------------------------------------------------------------------------------------
def test_throttled_invocations_are_retried(moto: Any, bucket: str) -> None:
    with LocalLambdaServer(moto.url, concurrency=2, throttle_first=6) as server:
        config = lambda_config(moto.url, server.url, bucket, invoke_pool_threads=4)
        with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
            fexec.compute.BACKOFF_BASE = 0.01
            assert fexec.map(_inc, range(8)).get_result() == list(range(1, 9))
            assert fexec.compute.throttled == 6
        assert server.stats["throttled"] == 6


def test_endless_throttling_is_a_clear_error(moto: Any, bucket: str) -> None:
    with LocalLambdaServer(moto.url, concurrency=2, throttle_first=1000) as server:
        config = lambda_config(moto.url, server.url, bucket, invoke_max_retries=2)
        with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
            fexec.compute.BACKOFF_BASE = 0.01
            start = time.monotonic()
            with pytest.raises(BackendError, match=r"kept throttling .* after 2 retries"):
                fexec.map(_inc, range(3))
            assert time.monotonic() - start < 20
            with pytest.raises(BackendError):
                fexec.get_result()


# -- faults -------------------------------------------------------------------------------------------------------
def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


def _hog(mib: int) -> int:
    blocks = [bytearray(1024 * 1024) for _ in range(mib)]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])
    time.sleep(5)
    return len(blocks)


def test_lambda_timeout_fails_the_call_clearly(config: dict[str, Any]) -> None:
    config["aws_lambda"]["runtime_timeout"] = 3
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        start = time.monotonic()
        futures = fexec.map(_sleep, [30, 0])
        with pytest.raises(FunctionTimeoutError, match=r"reached its timeout .*aws_lambda.runtime_timeout"):
            futures[0].result(timeout=30)
        assert futures[1].result() == "done"
        assert time.monotonic() - start < 15


def test_out_of_memory_fails_the_call_clearly(config: dict[str, Any], lambda_server: LocalLambdaServer) -> None:
    config["aws_lambda"]["runtime_memory"] = 256
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_hog, [600, 1])
        with pytest.raises(WorkerDiedError, match=r"running out of the function's 256 MiB of memory"):
            futures[0].result(timeout=60)
        assert futures[1].result(timeout=60) == 1
        assert fexec.call_async(_inc, 1).result() == 2  # the function keeps working
    assert lambda_server.stats["oom_kills"] >= 1


def test_function_deleted_behind_the_clients_back(config: dict[str, Any], lambda_server: LocalLambdaServer) -> None:
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_inc, 1).result() == 2
        name = fexec.compute.functions.function_name(None, 256)
        _client("lambda", lambda_server.url).delete_function(FunctionName=name)
        with pytest.raises(BackendError, match=rf"{name} does not exist in region us-east-1"):
            fexec.call_async(_inc, 2)
        assert fexec.call_async(_inc, 3).result() == 4  # redeployed on the next job


# -- the function follows the config; names per user and namespace -----------------------------------------------
def _env(name: str) -> str | None:
    return os.environ.get(name)


def test_configuration_changes_reach_the_existing_function(config: dict[str, Any], moto: Any,
                                                           lambda_server: LocalLambdaServer) -> None:
    config["aws_lambda"].update(runtime_timeout=60, env_vars={"STAGE": "one"})
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_env, "STAGE").result() == "one"
        name = fexec.compute.functions.function_name(None, 256)
    config["aws_lambda"].update(runtime_timeout=600, env_vars={"STAGE": "two"}, ephemeral_storage=1024)
    conflicts = lambda_server.stats["conflicts"]
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_env, "STAGE").result() == "two"
    conf = _client("lambda", moto.url).get_function_configuration(FunctionName=name)
    assert conf["Timeout"] == 600 and conf["Environment"]["Variables"]["STAGE"] == "two"
    sent = [request for fn, request in lambda_server.configuration_updates if fn == name]
    assert sent and sent[-1]["EphemeralStorage"] == {"Size": 1024}  # (moto does not keep it; Lambda does)
    assert lambda_server.stats["conflicts"] == conflicts  # waited for LastUpdateStatus, nothing refused


def test_an_inactive_function_is_woken_before_the_job(config: dict[str, Any], lambda_server: LocalLambdaServer) -> None:
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_inc, 1).result() == 2
        name = fexec.compute.functions.function_name(None, 256)
    lambda_server.deactivate(name)
    conflicts = lambda_server.stats["conflicts"]
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(_inc, [1, 2, 3]).get_result() == [2, 3, 4]
        assert fexec.compute.throttled == 0
    assert lambda_server.stats["conflicts"] == conflicts + 1  # only the dry run that woke it was refused


def test_functions_are_named_per_user_and_namespace(config: dict[str, Any], moto: Any) -> None:
    alice = LambdaFunctions(_section(config) | {"user_id": "AIDAEXAMPLEALICE"})
    bob = LambdaFunctions(_section(config) | {"user_id": "AIDAEXAMPLEBOB1:session"})
    team = LambdaFunctions(_section(config) | {"user_id": "AIDAEXAMPLEALICE", "namespace": "team-x"})
    names = [f.ensure(None, 256).name for f in (alice, bob, team)]
    assert names[0].startswith("lithops-worker-lice-") and names[1].startswith("lithops-worker-bob1-")
    assert names[2].startswith("team-x-lithops-worker-lice-")
    assert len(set(names)) == 3  # different code of different users never overwrites each other's
    assert [f["function_name"] for f in alice.list()] == [names[0]]
    assert [f["function_name"] for f in team.list()] == [names[2]]
    team.delete(None)
    assert [f["function_name"] for f in alice.list()] == [names[0]]


# -- Lambda's payload limits ------------------------------------------------------------------------------------
def _env_size(x: int) -> int:
    return len(os.environ["LITHOPS_TEST_BLOB"]) + x


def test_events_over_256_kib_go_through_storage_within_max_workers(config: dict[str, Any],
                                                                    lambda_server: LocalLambdaServer) -> None:
    config["aws_lambda"]["max_workers"] = 2
    blob = "x" * 300_000  # every worker payload carries it: each event would be over Lambda's 256 KiB
    events, too_large = lambda_server.stats["events"], lambda_server.stats["too_large"]
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        futures = fexec.map(_env_size, range(6), extra_env={"LITHOPS_TEST_BLOB": blob})
        assert fexec.get_result(futures) == [300_000 + i for i in range(6)]
    assert lambda_server.stats["events"] - events == 2  # max_workers invocations, none split further
    assert lambda_server.stats["too_large"] == too_large


def test_local_lambda_refuses_payloads_over_the_limits(config: dict[str, Any],
                                                       lambda_server: LocalLambdaServer) -> None:
    name = LambdaFunctions(_section(config)).ensure(None, 256).name
    lam = _client("lambda", lambda_server.url)
    with pytest.raises(lam.exceptions.RequestTooLargeException, match="smaller than 262144 bytes"):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"x": "y" * 300 * 1024}))
    with pytest.raises(lam.exceptions.RequestTooLargeException, match="smaller than 6291456 bytes"):
        lam.invoke(FunctionName=name, Payload=json.dumps({"x": "y" * 7 * 1024 * 1024}))
