"""The storage transport end to end: payloads delivered to `python -m lithops.worker`, statuses polled back."""

import json
import subprocess
import sys

import pytest

import lithops
from lithops import monitor
from lithops.errors import WorkerDiedError
from lithops.testing import ComputeContract


def square(x):
    return x * x


def fail(x):
    raise KeyError(f"missing {x}")


def total(results):
    return sum(results)


def hard_exit(x):
    import os

    os._exit(1)


def test_map_and_reduce_through_storage(sim_config):
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        assert fexec.mode == "serverless"
        assert fexec.map(square, range(6), chunksize=2).get_result() == [0, 1, 4, 9, 16, 25]
        assert len(fexec.compute.payloads) == 3
        assert fexec.map_reduce(square, range(4), total).get_result() == 14


def test_payload_is_the_documented_json(sim_config):
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        fexec.call_async(square, 3).result()
        payload = fexec.compute.payloads[0]
    assert payload["protocol"] == 1
    assert payload["call_ids"] == ["00000"]
    assert payload["func_key"].endswith("/func.pickle") and payload["data_key"].endswith("/aggdata.pickle")
    assert payload["storage_backend"] == "lithops_localhost.storage:LocalhostStorage"
    json.dumps(payload)  # JSON all the way down


def test_remote_exception_through_storage(sim_config):
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        with pytest.raises(KeyError, match="missing 7") as info:
            fexec.call_async(fail, 7).result()
        assert "fail" in str(info.value.__cause__)


def test_status_polling_is_one_listing_per_job_per_round(sim_config):
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        futures = fexec.map(square, range(40), chunksize=10)
        fexec.get_result(futures)
        requests = fexec.monitor.storage_requests
    # one listing per poll plus a status and an output read per call: independent of how often we poll
    polls = requests - 2 * 40
    assert polls >= 1
    assert requests <= 2 * 40 + polls


def test_clean_removes_job_objects(sim_config):
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        fexec.map(square, range(3)).get_result()
        assert fexec.storage.list_keys(fexec.storage.bucket, "lithops.jobs/")
        fexec.clean()
        assert fexec.storage.list_keys(fexec.storage.bucket, f"lithops.jobs/{fexec.executor_id}/") == []


def test_a_call_with_no_status_fails_after_timeout_and_grace(sim_config, monkeypatch):
    monkeypatch.setattr(monitor, "STATUS_GRACE_SEC", 1)
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        futures = fexec.map(hard_exit, [1], timeout=1)
        with pytest.raises(WorkerDiedError, match="no status from 1 call"):
            futures[0].result(timeout=30)


def test_worker_refuses_another_protocol_version(tmp_path):
    path = tmp_path / "payload.json"
    path.write_text(json.dumps({"protocol": 99}))
    proc = subprocess.run([sys.executable, "-m", "lithops.worker", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "speaks job protocol 1, the payload is version 99" in proc.stderr


def test_wrong_protocol_writes_failed_statuses_instead_of_silence(sim_config, tmp_path):
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        fexec.call_async(square, 2).result()
        payload = dict(fexec.compute.payloads[0], protocol=99)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(payload))
    proc = subprocess.run([sys.executable, "-m", "lithops.worker", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0
    storage = lithops.Storage(config=sim_config)
    key = f"lithops.jobs/{payload['executor_id']}/{payload['job_id']}/00000/status.json"
    status = json.loads(storage.get_object(storage.bucket, key))
    assert status["success"] is False and status["exception"]


def slow_square(x):
    import time

    time.sleep(x)
    return x * x


def test_clean_keeps_the_data_of_a_running_job(sim_config):
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        futures = fexec.map(slow_square, [0, 2])
        fexec.wait(futures, return_when=lithops.wait.ANY_COMPLETED)
        fexec.clean()
        assert fexec.get_result(futures) == [0, 4]  # the slow call still found its data
        fexec.clean()
        assert fexec.storage.list_keys(fexec.storage.bucket, f"lithops.jobs/{fexec.executor_id}/") == []


class TestStorageTransportContract(ComputeContract):
    """The compute contract, on the storage transport (payloads run by `python -m lithops.worker`)."""

    # a worker process that dies, or fails before writing any status, is not watched: its calls fail only after
    # execution_timeout + 60 s on this transport
    skip_capabilities = {"worker_death", "worker_failure"}

    @pytest.fixture
    def config(self, sim_config):
        # 20 calls per worker invocation, as a serverless user would set for many small calls
        return {**sim_config, "lithops": {**sim_config["lithops"], "chunksize": 20}}

