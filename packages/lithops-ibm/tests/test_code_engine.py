"""code_engine: the Code Engine SDK's requests against the local Code Engine API (strict, with IAM tokens), whose
job runs' array indices run as local processes with the real entry point, and ibm_cos on moto."""

from __future__ import annotations

from typing import Any

import pytest

import lithops
from conftest import API_KEY, ce_config, hmac_section, new_bucket
from lithops.errors import BackendError, ConfigError, WorkerDiedError
from lithops.testing import ComputeContract
from lithops_ibm.code_engine.backend import METADATA_PREFIX, CodeEngineBackend
from lithops_ibm.cos.storage import COSStorage
from lithops_ibm.iam import IBMCredentialsError
from lithops_ibm.testing.code_engine import FakeCodeEngine


class TestCodeEngineCompute(ComputeContract):
    """Code Engine through the local API; storage is ibm_cos on moto."""

    @pytest.fixture
    def config(self, iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> dict[str, Any]:
        return ce_config(iam.url, code_engine.url, moto.url, ce_bucket)


def ce_section(*args: Any, **keys: Any) -> dict[str, Any]:
    """The code_engine section of :func:`ce_config` with the ibm section's keys, as the executor fills it in."""
    config = ce_config(*args, **keys)
    return {**config["ibm"], **config["code_engine"]}


def _double(x: int) -> int:
    return x * 2


def _lines(obj: Any) -> int:
    return len(obj.data_stream.read().splitlines())


def test_map_reduce_and_data_map_over_cos_urls(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    config = ce_config(iam.url, code_engine.url, moto.url, ce_bucket)
    storage = COSStorage(hmac_section(moto.url))
    for i in range(3):
        storage.put_object(ce_bucket, f"data/part-{i}.txt", "\n".join(str(n) for n in range(10 * (i + 1))) + "\n")
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map(_double, [1, 2, 3]).get_result() == [2, 4, 6]
        assert fexec.map_reduce(_double, range(5), sum).get_result() == 20
        assert sorted(fexec.map(_lines, f"cos://{ce_bucket}/data/").get_result()) == [10, 20, 30]


def test_job_runs_carry_code_engine_environment(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    """One job per runtime; each map is one job run whose indices are the call groups, JOB_INDEX each."""
    config = ce_config(iam.url, code_engine.url, moto.url, ce_bucket, max_workers=3)

    def index(_: int) -> tuple[str, str]:
        import os

        return os.environ["JOB_INDEX"], os.environ["JOB_ARRAY_SIZE"]

    with lithops.FunctionExecutor(config=config) as fexec:
        found = fexec.map(index, range(3)).get_result()
    assert sorted(found) == [("0", "3"), ("1", "3"), ("2", "3")]
    project = next(p for p in code_engine.projects.values() if p["name"] == "lithops-tests")
    job = next(j for (pid, _), j in code_engine.jobs.items() if pid == project["id"] and
               j["image_reference"] == "docker.io/lithops/ce-runtime:1" and j["scale_memory_limit"] == "0.25G")
    assert job["run_commands"] == ["python3", "-m", "lithops_ibm.code_engine.entry_point"]
    assert job["scale_cpu_limit"] == "0.125" and job["scale_max_execution_time"] == 120


@pytest.mark.parametrize("section, message", [
    ({"runtime_cpu": 1, "runtime_memory": 1024}, r"runtime_memory is 1024 MiB, which Code Engine does not offer "
                                                 r"with 1 vCPU: choose one of 2048 \(2G\), 4096 \(4G\), 8192"),
    ({"runtime_cpu": 3}, "runtime_cpu is 3, which Code Engine does not offer"),
    ({"runtime_timeout": 90000}, "runtime_timeout is 90000"),
])
def test_cpu_memory_pairs_are_checked_before_submission(iam: Any, code_engine: Any, moto: Any, ce_bucket: str,
                                                        section: dict[str, Any], message: str) -> None:
    before = len(code_engine.requests)
    with pytest.raises(ConfigError, match=message):
        lithops.FunctionExecutor(config=ce_config(iam.url, code_engine.url, moto.url, ce_bucket, **section))
    assert len(code_engine.requests) == before  # nothing was sent


def test_the_fake_refuses_pairs_code_engine_refuses(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    """The local API is strict too: a pair the client did not check is refused with Code Engine's message."""
    backend = CodeEngineBackend(ce_section(iam.url, code_engine.url, moto.url, ce_bucket), {})
    project_id = backend.ensure_project()
    with pytest.raises(BackendError, match=r"invalid_resource_limits.*not supported with 0.125 vCPU"):
        backend.request("job creation", "create_job", project_id=project_id, image_reference="docker.io/a/b:1",
                        name="lithops-bad", scale_cpu_limit="0.125", scale_memory_limit="4G")


def test_a_runtime_of_another_python_is_refused(iam: Any, code_engine: Any, moto: Any) -> None:
    import json

    bucket = new_bucket()
    storage = COSStorage(hmac_section(moto.url))
    storage.create_bucket(bucket)
    config = ce_config(iam.url, code_engine.url, moto.url, bucket, runtime="docker.io/lithops/old-python:1")
    backend = CodeEngineBackend({**config["ibm"], **config["code_engine"]}, config)
    job_name = backend.job_name("docker.io/lithops/old-python:1", 256)
    storage.put_object(bucket, f"{METADATA_PREFIX}/{job_name}.json", json.dumps({"python_version": "3.8"}))
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=r"runs Python 3\.8, but this client runs Python 3\.\d+.*"
                                               r"lithops runtime build -b code_engine"):
            fexec.map(_double, [1])


def test_a_runtime_that_cannot_be_pulled_is_refused(iam: Any, moto: Any, ce_bucket: str) -> None:
    with FakeCodeEngine(iam, images={"docker.io/lithops/ce-runtime:1"}) as api:  # type: ignore[attr-defined]
        config = ce_config(iam.url, api.url, moto.url, ce_bucket, runtime="docker.io/lithops/missing:1")
        with lithops.FunctionExecutor(config=config) as fexec:
            with pytest.raises(BackendError, match=r"could not start Lithops' entry point.*ImagePullBackOff"):
                fexec.map(_double, [1])


def _sleep(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return 1


def test_killed_instances_fail_their_calls_at_once(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    """Instances killed by the platform (a failed node, memory) fail their calls with Code Engine's reason, long
    before the calls' timeout."""
    import time

    config = ce_config(iam.url, code_engine.url, moto.url, ce_bucket)
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(_sleep, [60, 60])
        run_name = f"lithops-{futures[0].job_key}".lower()
        deadline, killed = time.monotonic() + 60, 0
        while killed < 2:  # on a loaded machine the two instances may start (and be killed) one at a time
            assert time.monotonic() < deadline, f"only {killed} of the 2 instances ran"
            killed += code_engine.kill_instances(run_name)
            time.sleep(0.2)
        start = time.monotonic()
        fexec.wait(futures, timeout=30, throw_except=False)
        for future in futures:
            with pytest.raises(WorkerDiedError, match=r"Code Engine job run .* failed: killed by signal 9"):
                future.result()
        assert time.monotonic() - start < 20


def test_project_is_found_or_created_and_waited_for(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    section = ce_section(iam.url, code_engine.url, moto.url, ce_bucket, project_name="fresh-project")
    first = CodeEngineBackend(section, {}).ensure_project()
    assert code_engine.projects[first]["status"] == "active"
    assert CodeEngineBackend(section, {}).ensure_project() == first  # found, not created again


def test_unknown_resource_group_is_a_clear_error(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    section = ce_section(iam.url, code_engine.url, moto.url, ce_bucket, project_name="other",
                        resource_group_id="no-such-group")
    with pytest.raises(BackendError, match="resource_group_not_found: Resource group 'no-such-group' was not found"):
        CodeEngineBackend(section, {}).ensure_project()


def test_invalid_api_key_and_api_down_are_clear_errors(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    from lithops_aws.testing.moto_server import free_port

    section = ce_section(iam.url, code_engine.url, moto.url, ce_bucket, iam_api_key="revoked-0000")
    with pytest.raises(IBMCredentialsError, match="IAM refused the API key"):
        CodeEngineBackend(section, {}).ensure_project()
    down = f"http://127.0.0.1:{free_port()}"
    section = ce_section(iam.url, down, moto.url, ce_bucket, connection_retries=0)
    with pytest.raises(BackendError, match=f"could not connect to {down}"):
        CodeEngineBackend(section, {}).ensure_project()


def test_region_without_code_engine_is_refused(iam: Any, moto: Any, ce_bucket: str) -> None:
    config = ce_config(iam.url, "", moto.url, ce_bucket)
    config["code_engine"].pop("endpoint")
    config["ibm"]["region"] = "mars-1"
    with pytest.raises(ConfigError, match="region is 'mars-1', where Code Engine does not run"):
        lithops.FunctionExecutor(config=config)


def test_api_key_is_required() -> None:
    with pytest.raises(ConfigError, match="needs iam_api_key"):
        CodeEngineBackend({"region": "us-south", "runtime": "x/y:1"}, {})
    assert API_KEY


def test_runtime_deploy_list_delete(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    """'lithops runtime deploy/list/delete' through the runtime builder: the job of an image, in the project."""
    from lithops_ibm.code_engine.runtime import CodeEngineRuntimeBuilder

    config = ce_config(iam.url, code_engine.url, moto.url, ce_bucket, project_name="runtimes")
    builder = CodeEngineRuntimeBuilder({**config["ibm"], **config["code_engine"]}, config)
    deployed = builder.deploy("docker.io/lithops/other:2", memory=512)
    assert deployed["memory"] == 512 and deployed["job"].startswith("lithops-other-2-512mb-")
    assert [r["job"] for r in builder.list()] == [deployed["job"]]
    assert builder.list()[0]["runtime_name"] == "docker.io/lithops/other:2" and builder.list()[0]["memory"] == 512
    builder.delete("docker.io/lithops/other:2", memory=1024)  # another size: kept
    assert len(builder.list()) == 1
    builder.delete("docker.io/lithops/other:2")
    assert builder.list() == []


def test_workers_reach_cos_with_iam_tokens(iam: Any, code_engine: Any, bearer_cos: Any, moto: Any) -> None:
    """With only an API key (ibm.iam_api_key), the instances get IAM tokens of their own for COS."""
    bucket = new_bucket()
    COSStorage(hmac_section(moto.url)).create_bucket(bucket)
    config = ce_config(iam.url, code_engine.url, moto.url, bucket)
    config["ibm_cos"] = {"endpoint": bearer_cos.url, "storage_bucket": bucket}
    refused = bearer_cos.refused
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map(_double, [1, 2, 3]).get_result() == [2, 4, 6]
    assert bearer_cos.refused == refused


def test_a_deleted_job_run_fails_its_calls(iam: Any, code_engine: Any, moto: Any, ce_bucket: str) -> None:
    """A job run deleted outside Lithops (console, CLI) fails its calls at the next status read, not at their
    timeout."""
    import time

    config = ce_config(iam.url, code_engine.url, moto.url, ce_bucket)
    with lithops.FunctionExecutor(config=config) as fexec:
        futures = fexec.map(_sleep, [60])
        run_name = f"lithops-{fexec.executor_id}-{futures[0].job_id}".lower()
        project = next(p for p in code_engine.projects.values() if p["name"] == "lithops-tests")
        deadline = time.monotonic() + 60
        while (project["id"], run_name) not in code_engine.runs:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        outsider = CodeEngineBackend(ce_section(iam.url, code_engine.url, moto.url, ce_bucket), {})
        outsider.api.delete_job_run(project_id=project["id"], name=run_name)  # as the console or CLI would
        start = time.monotonic()
        with pytest.raises(WorkerDiedError, match="the job run no longer exists"):
            futures[0].result()
        assert time.monotonic() - start < 20
