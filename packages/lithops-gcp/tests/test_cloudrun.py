"""gcp_cloudrun through the google-cloud-run client (REST) against the fake Admin API, which runs our real Cloud Run
entry point as a local process; storage on gcp-storage-emulator."""

from __future__ import annotations

import os
import pickle
import sys
import time
from typing import Any

import psutil
import pytest
import requests
from google.api_core import exceptions as api_exceptions

import lithops
from conftest import PROJECT, REGION, cloudrun_config, gcs_section, make_bucket, new_bucket
from lithops.errors import BackendError, ConfigError
from lithops.testing import ComputeContract
from lithops_gcp.gcs.storage import GCSStorage


@pytest.fixture(scope="module")
def class_bucket() -> str:
    return make_bucket(new_bucket("lithops-run"))


class TestCloudRunCompute(ComputeContract):
    @pytest.fixture
    def config(self, fake_run: Any, class_bucket: str) -> dict[str, Any]:
        return cloudrun_config(fake_run.url, class_bucket)


def _count_words(obj: Any) -> int:
    return len(obj.data_stream.read().split())


def test_map_map_reduce_and_gs_data_map(fake_run: Any, class_bucket: str) -> None:
    """The executor API end to end: map, map_reduce, and a data map over gs://bucket/prefix/."""
    storage = GCSStorage(gcs_section())
    storage.put_object(class_bucket, "words/a.txt", b"one two three\nfour\n")
    storage.put_object(class_bucket, "words/b.txt", b"five six\n")
    with lithops.FunctionExecutor(config=cloudrun_config(fake_run.url, class_bucket)) as fexec:
        assert fexec.map(lambda x: x * 2, [1, 2, 3]).get_result() == [2, 4, 6]
        assert fexec.map_reduce(lambda x: x + 1, range(5), sum).get_result() == 15
        counts = fexec.map(_count_words, f"gs://{class_bucket}/words/").get_result()
        assert sorted(counts) == [2, 4]


def test_deployed_workers_take_payloads_only_through_the_front_end(fake_run: Any, class_bucket: str) -> None:
    """A local worker process listens on loopback only and refuses a POST without its token, so another user of
    the machine cannot hand it a payload by going around the fake's identity check."""
    with lithops.FunctionExecutor(config=cloudrun_config(fake_run.url, class_bucket)) as fexec:
        assert fexec.call_async(abs, -3).result() == 3
    workers = list(fake_run.workers.values())
    assert workers
    for worker in workers:
        answer = requests.post(worker.url + "/", json={"lithops_action": "metadata"}, timeout=10)
        assert answer.status_code == 401
        listening = [c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == worker.port
                     and c.status == psutil.CONN_LISTEN]
        assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)


def test_ready_service_is_reused_and_updated_when_its_settings_change(fake_run: Any, class_bucket: str) -> None:
    config = cloudrun_config(fake_run.url, class_bucket, runtime_memory=512)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.call_async(lambda x: x, 1).result() == 1
    start = len(fake_run.requests)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.call_async(lambda x: x, 2).result() == 2
    control = [r for r in fake_run.requests[start:] if r[1].startswith("/v2/")]
    assert [m for m, _ in control] == ["GET"], control  # found Ready: no create, no update
    config["gcp_cloudrun"]["env_vars"] = {"MY_SETTING": "on"}
    start = len(fake_run.requests)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.call_async(lambda name: __import__("os").environ[name], "MY_SETTING").result() == "on"
    assert any(m == "PATCH" for m, _ in fake_run.requests[start:])


#: A stand-in runtime built for another Python: it answers the metadata request with Python 3.9.
OTHER_PYTHON = (
    "from lithops.worker.http_service import make_server; import os\n"
    "make_server('127.0.0.1', int(os.environ['PORT']), lambda body: (200, {'python_version': '3.9'}))"
    ".serve_forever()"
)


def test_runtime_of_another_python_is_refused_before_sending(fake_run: Any, class_bucket: str) -> None:
    image = f"{REGION}-docker.pkg.dev/{PROJECT}/lithops/py39:1"
    fake_run.push_image(image, [sys.executable, "-c", OTHER_PYTHON])
    before = fake_run.invocations
    with lithops.FunctionExecutor(config=cloudrun_config(fake_run.url, class_bucket, runtime="py39:1")) as fexec:
        with pytest.raises(BackendError, match=r"runs Python 3\.9, but this client runs Python .*Nothing was sent"):
            fexec.call_async(lambda x: x, 1)
    assert fake_run.invocations - before == 1  # the metadata request only


@pytest.mark.parametrize(("image", "command", "message"), [
    ("missing:1", None, r"Image '.*missing:1' not found"),
    ("crashes:1", [sys.executable, "-c", "raise SystemExit(3)"], r"failed to start and listen on the port"),
])
def test_deploy_errors_carry_cloud_runs_message(fake_run: Any, class_bucket: str, image: str,
                                                command: list[str] | None, message: str) -> None:
    if command is not None:
        fake_run.push_image(f"{REGION}-docker.pkg.dev/{PROJECT}/lithops/{image}", command)
    with lithops.FunctionExecutor(config=cloudrun_config(fake_run.url, class_bucket, runtime=image)) as fexec:
        with pytest.raises(BackendError, match=message):
            fexec.call_async(lambda x: x, 1)


def test_deploy_that_never_becomes_ready_times_out(fake_run: Any, class_bucket: str) -> None:
    fake_run.push_image(f"{REGION}-docker.pkg.dev/{PROJECT}/lithops/silent:1",
                        [sys.executable, "-c", "import time; time.sleep(120)"])
    start = time.monotonic()
    with lithops.FunctionExecutor(config=cloudrun_config(fake_run.url, class_bucket, runtime="silent:1",
                                                         deploy_timeout=10)) as fexec:
        with pytest.raises(BackendError, match=r"not deployed within gcp_cloudrun.deploy_timeout \(10 s\)"):
            fexec.call_async(lambda x: x, 1)
    assert time.monotonic() - start < 45


def test_disabled_api_error_names_the_api_to_enable(fake_run: Any, class_bucket: str) -> None:
    fake_run.api_enabled = False
    try:
        with pytest.raises(BackendError, match=r"Cloud Run Admin API has not been used in project .* Enable it by "
                                               r"visiting https://console.developers.google.com/apis/api/run"):
            lithops.FunctionExecutor(config=cloudrun_config(fake_run.url, class_bucket, runtime_memory=1024)
                                     ).call_async(lambda x: x, 1)
    finally:
        fake_run.api_enabled = True


def test_region_without_cloud_run_is_a_clear_error(fake_run: Any, class_bucket: str) -> None:
    config = cloudrun_config(fake_run.url, class_bucket)
    config["gcp"]["region"] = "europe-west9"
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=r"Location europe-west9 is not found"):
            fexec.call_async(lambda x: x, 1)


def test_endpoint_down_is_a_clear_error_without_hanging(class_bucket: str) -> None:
    from lithops_gcp.testing.emulators import free_port

    start = time.monotonic()
    with lithops.FunctionExecutor(config=cloudrun_config(f"http://127.0.0.1:{free_port()}", class_bucket)) as fexec:
        with pytest.raises(BackendError, match=r"cannot reach http://127\.0\.0\.1"):
            fexec.call_async(lambda x: x, 1)
    assert time.monotonic() - start < 60


def test_fake_refuses_what_cloud_run_refuses(fake_run: Any) -> None:
    """The fake is strict: a wrong service id, a missing image, output-only fields, a call without a token."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    client = run_v2.ServicesClient(credentials=AnonymousCredentials(), transport="rest",
                                   client_options=ClientOptions(api_endpoint=fake_run.url))
    parent = f"projects/{PROJECT}/locations/{REGION}"
    good = {"template": {"containers": [{"image": "x"}]}}
    with pytest.raises(api_exceptions.BadRequest, match="service_id"):
        client.create_service(parent=parent, service_id="Bad_Name", service=run_v2.Service(good))
    with pytest.raises(api_exceptions.BadRequest, match="image"):
        client.create_service(parent=parent, service_id="ok", service=run_v2.Service(
            {"template": {"containers": [{}]}}))
    with pytest.raises(api_exceptions.BadRequest, match="output only"):
        client.create_service(parent=parent, service_id="ok", service=run_v2.Service(dict(good, uri="http://x")))
    with pytest.raises(api_exceptions.Forbidden):
        client.get_service(name=f"projects/other/locations/{REGION}/services/ok")
    assert requests.post(fake_run.worker_url("anything"), json={}, timeout=10).status_code == 401


def test_runtime_builder_deploys_lists_and_deletes(fake_run: Any, class_bucket: str) -> None:
    from lithops_gcp.gcp_cloudrun.runtime import CloudRunRuntimeBuilder
    from lithops_gcp.gcp_cloudrun.services import default_runtime_name

    section = dict(cloudrun_config(fake_run.url, class_bucket)["gcp_cloudrun"], project_name=PROJECT, region=REGION)
    builder = CloudRunRuntimeBuilder(section)
    info = builder.deploy(default_runtime_name(), memory=1024)
    assert info["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert {"runtime_name": default_runtime_name(), "memory": 1024}.items() <= next(
        r for r in builder.list() if r["memory"] == 1024).items()
    builder.delete(default_runtime_name(), 1024)
    assert all(r["memory"] != 1024 for r in builder.list())


def test_building_without_a_container_tool_says_what_to_install(fake_run: Any, monkeypatch: pytest.MonkeyPatch,
                                                                 class_bucket: str) -> None:
    from lithops_gcp.gcp_cloudrun.runtime import CloudRunRuntimeBuilder

    monkeypatch.setenv("PATH", "/nonexistent")
    section = dict(cloudrun_config(fake_run.url, class_bucket)["gcp_cloudrun"], project_name=PROJECT, region=REGION)
    with pytest.raises(BackendError, match="needs docker, podman or buildah"):
        CloudRunRuntimeBuilder(section).build("my-runtime:1")


def test_wrong_credentials_file_fails_the_executor_with_the_fix(fake_run: Any, class_bucket: str,
                                                                tmp_path: Any) -> None:
    config = cloudrun_config(fake_run.url, class_bucket)
    config["gcp"]["credentials_path"] = str(tmp_path / "key.json")
    with pytest.raises(ConfigError, match=r"gcp\.credentials_path is .*key\.json, which is not a file"):
        lithops.FunctionExecutor(config=config)


def test_first_lithops_hello_after_set_up_works(fake_run: Any, tmp_path: Any) -> None:
    """The known failure to beat: the first 'lithops hello -b gcp_cloudrun' deploys the service, waits until it is
    Ready, and runs (no 404 after deploy)."""
    import subprocess

    import yaml

    bucket = make_bucket(new_bucket("lithops-hello"))
    config = cloudrun_config(fake_run.url, bucket, runtime_memory=384)  # a service not deployed yet
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, LITHOPS_CONFIG_FILE=str(path))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "lithops"), "hello", "-b", "gcp_cloudrun",
                           "-s", "gcp_storage"], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Hello" in proc.stdout + proc.stderr


def test_refused_identity_token_fails_the_calls_with_the_role_to_grant(fake_run: Any, class_bucket: str) -> None:
    """A service that refuses the caller (401) fails the payload's calls at once, naming roles/run.invoker."""
    from lithops_gcp.invoker import HttpInvoker, TokenCache

    class NoToken(TokenCache):  # a caller whose token the service refuses (the fake refuses an empty one)
        def get(self, audience: str) -> str:
            return ""

    reported: list[Any] = []
    invoker = HttpInvoker("Cloud Run", NoToken(None), 1, 30)  # type: ignore[arg-type]
    payload = {"executor_id": "e", "job_id": "j", "call_ids": ["00000"]}
    invoker.submit("e-j", fake_run.worker_url("any"), payload, reported.append)
    deadline = time.monotonic() + 30
    while not reported and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reported, "the calls were not reported failed"
    error, _ = pickle.loads(reported[0].exception)
    assert "answered 401" in str(error) and "roles/run.invoker" in str(error)
