"""Futures behave as in Lithops 3.x: chained inputs are consumed, futures pickle, state flags, stats, retries."""

from __future__ import annotations

import inspect
import json
import os
import pickle
import subprocess
import sys
import time
from typing import Any

import pytest

import lithops
from lithops.errors import JobCancelledError
from lithops.futures import ResponseFuture
from lithops.retries import RetryingFuture


def times_ten(x: int) -> int:
    return x * 10


def plus_one(x: int) -> int:
    return x + 1


# -- futures used as the input of another job are consumed -------------------------------------------------


def test_chained_map_hides_consumed_futures(fexec: Any) -> None:
    first = fexec.map(times_ten, [1, 2])
    fexec.map(plus_one, first)
    assert fexec.get_result() == [11, 21]


def test_chained_map_of_a_slice_keeps_the_rest(fexec: Any) -> None:
    first = fexec.map(times_ten, [1, 2])
    fexec.map(plus_one, first[:1])
    assert fexec.get_result() == [20, 11]  # executor order: first[1], then the second job


@pytest.mark.parametrize("container", [tuple, list, iter], ids=["tuple", "list", "iterator"])
def test_chained_map_over_any_container(fexec: Any, container: Any) -> None:
    first = fexec.map(times_ten, [1, 2])
    fexec.map(plus_one, container(list(first)))
    assert fexec.get_result() == [11, 21]


def test_chained_call_async_consumes_its_input(fexec: Any) -> None:
    first = fexec.call_async(times_ten, 3)
    fexec.call_async(plus_one, first)
    assert fexec.get_result() == 31


def test_futures_mixed_with_data_are_refused(fexec: Any) -> None:
    first = fexec.map(times_ten, [1])
    with pytest.raises(ValueError, match="mixes 1 futures"):
        fexec.map(plus_one, [first[0], 5])
    fexec.wait(first)


# -- ResponseFuture: Lithops's attributes, parameters and state machine ---------------------------------------


def sleepy(x: float) -> float:
    time.sleep(x)
    return x


def fail(x: int) -> int:
    raise ValueError(f"bad {x}")


def flags(f: Any) -> dict[str, bool]:
    return {name: getattr(f, name) for name in ("done", "success", "error", "ready", "running")}


def test_state_flags_follow_lithops(fexec: Any) -> None:
    fut = fexec.call_async(sleepy, 0.5)
    assert flags(fut) == {"done": False, "success": False, "error": False, "ready": False, "running": True}
    fexec.wait([fut])
    after_status = {"done": True, "success": False, "error": False, "ready": False, "running": False}
    assert flags(fut) == after_status
    assert fut.result() == 0.5
    assert flags(fut) == after_status
    bad = fexec.call_async(fail, 1)
    fexec.wait([bad], throw_except=False)
    after_error = {"done": True, "success": True, "error": True, "ready": False, "running": False}
    assert flags(bad) == after_error
    assert bad.result(throw_except=False) is None
    assert flags(bad) == after_error


def test_lithops_attributes(fexec: Any) -> None:
    fut = fexec.call_async(sleepy, 0.5, timeout=50)
    assert fut.function_name == "sleepy"
    assert fut.execution_timeout == 50
    assert fut.backend == "localhost"
    assert fut.runtime_name is None and fut.runtime_memory is None  # the backend's defaults
    assert fut.activation_id is None
    fut.result()
    assert isinstance(fut.activation_id, str) and fut.activation_id
    chained = fexec.map(sleepy, fexec.map(sleepy, [0]), runtime_memory=256)
    assert chained[0].function_name == "sleepy" and chained[0].runtime_memory == 256


def test_result_and_status_take_lithops_parameters(fexec: Any) -> None:
    fut = fexec.call_async(sleepy, 1)
    assert fut.status(check_only=True) is None
    stats = fut.status(throw_except=True, internal_storage=None, check_only=False, wait_dur_sec=0.1)
    assert "worker_end_tstamp" in stats
    assert fut.result(True, None, 3, 0.1) == 1  # throw_except, internal_storage, retries, wait_dur_sec
    assert fut.status(check_only=True) is stats


def test_cancel_a_pending_call(fexec: Any) -> None:
    done = fexec.call_async(sleepy, 0)
    done.result()
    assert done.cancel() is False and not done.cancelled()
    slow = fexec.call_async(sleepy, 3)
    assert slow.cancel() is True
    assert slow.cancelled() and slow.error and slow.done
    with pytest.raises(JobCancelledError):
        slow.result()
    assert slow.cancel() is True  # cancelling again is harmless


#: Keys of Lithops 3.8's execution stats that this project does not provide; docs/protocol.md says why.
NOT_PROVIDED = {"worker_func_uss", "worker_func_sent_net_io", "worker_func_recv_net_io"}
LITHOPS_STATS = {
    "func_data_size_bytes", "func_module_size_bytes", "func_result_size", "host_data_upload_time",
    "host_func_upload_time", "host_job_create_tstamp", "host_job_created_time", "host_job_serialize_time",
    "host_result_done_tstamp", "host_result_query_count", "host_status_done_tstamp", "host_status_query_count",
    "host_submit_tstamp", "worker_calls", "worker_cold_start", "worker_end_tstamp", "worker_exec_time",
    "worker_func_cpu_system_time", "worker_func_cpu_usage", "worker_func_cpu_user_time", "worker_func_end_tstamp",
    "worker_func_exec_time", "worker_func_recv_net_io", "worker_func_rss", "worker_func_sent_net_io",
    "worker_func_start_tstamp", "worker_func_uss", "worker_func_vms", "worker_peak_memory_end",
    "worker_peak_memory_start", "worker_result_upload_time", "worker_start_tstamp",
}


def test_stats_carry_lithops_keys(fexec: Any) -> None:
    fut = fexec.call_async(sleepy, 0.2)
    fut.result()
    assert LITHOPS_STATS - NOT_PROVIDED <= set(fut.stats), sorted(LITHOPS_STATS - NOT_PROVIDED - set(fut.stats))
    s = fut.stats
    assert s["host_job_create_tstamp"] <= s["host_submit_tstamp"] <= s["worker_start_tstamp"]
    assert s["worker_exec_time"] >= s["worker_func_exec_time"] >= 0.2
    assert s["func_result_size"] == s["worker_result_size"] > 0
    assert s["func_data_size_bytes"] > 0 and s["func_module_size_bytes"] > 0
    assert s["worker_calls"] >= 1 and isinstance(s["worker_cold_start"], bool)
    assert s["worker_func_rss"] > 0 and s["worker_func_vms"] >= s["worker_func_rss"]
    assert s["worker_peak_memory_end"] >= s["worker_peak_memory_start"] > 0
    assert s["worker_func_cpu_user_time"] >= 0 and s["worker_func_cpu_system_time"] >= 0
    assert 0 <= s["worker_func_cpu_usage"] <= 100 * (os.cpu_count() or 1)
    bad = fexec.call_async(fail, 1)
    bad.result(throw_except=False)
    assert {"worker_exec_time", "worker_func_cpu_user_time", "host_status_done_tstamp"} <= set(bad.stats)


def test_stats_on_the_storage_transport(sim_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        fut = fexec.call_async(sleepy, 0)
        fut.result()
    assert LITHOPS_STATS - NOT_PROVIDED <= set(fut.stats), sorted(LITHOPS_STATS - NOT_PROVIDED - set(fut.stats))
    assert fut.stats["host_status_query_count"] >= 1 and fut.stats["host_func_upload_time"] > 0


# -- futures can be pickled and read in another process ------------------------------------------------------

READER = """
import json, pickle, sys
import lithops
with open(sys.argv[1], "rb") as f:
    futures, finished, single = pickle.load(f)
out = {
    "wait_get_result": lithops.wait.get_result(futures, wait_dur_sec=0.05, timeout=60),
    "list_get_result": futures.get_result(wait_dur_sec=0.05, timeout=60),
    "finished": finished.result(),
    "single": single.result(wait_dur_sec=0.05, timeout=60),
}
with lithops.FunctionExecutor(log_level=None) as fexec:
    out["executor_get_result"] = fexec.get_result(fs=futures, wait_dur_sec=0.05, timeout=60)
print(json.dumps(out))
"""


def _read_elsewhere(path: Any) -> dict[str, Any]:
    script = path.parent / "reader.py"
    script.write_text(READER)
    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _pickle_futures(fexec: Any, path: Any) -> None:
    finished = fexec.call_async(times_ten, 5)
    finished.result()
    futures = fexec.map(sleepy, [0.5, 1.0])  # still running when pickled
    single = fexec.call_async(sleepy, 0.7)
    with open(path, "wb") as f:
        pickle.dump((futures, finished, single), f)


def test_pickled_futures_read_in_another_process(storage_fexec: Any, tmp_path: Any) -> None:
    path = tmp_path / "futures.pickle"
    _pickle_futures(storage_fexec, path)
    out = _read_elsewhere(path)
    assert out == {"wait_get_result": [0.5, 1.0], "list_get_result": [0.5, 1.0], "finished": 50,
                   "single": 0.7, "executor_get_result": [0.5, 1.0]}
    assert storage_fexec.get_result() == [50, 0.5, 1.0, 0.7]  # the original futures are unaffected


def test_pickled_futures_on_the_storage_transport_outlive_the_executor(sim_config: dict[str, Any],
                                                                       tmp_path: Any) -> None:
    path = tmp_path / "futures.pickle"
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        _pickle_futures(fexec, path)
        fexec.wait()
    # the executor closed and cleaned its other jobs, but kept those whose futures were pickled
    env = {**os.environ, "LITHOPS_CONFIG_FILE": str(tmp_path / "sim.yaml")}
    (tmp_path / "sim.yaml").write_text(json.dumps({"lithops": {"storage": "localhost"}}))
    script = tmp_path / "reader.py"
    script.write_text(READER.replace("with lithops.FunctionExecutor(log_level=None) as fexec:\n    ", "if 0:\n    "))
    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"wait_get_result": [0.5, 1.0], "list_get_result": [0.5, 1.0],
                                                        "finished": 50, "single": 0.7}


def test_a_pickled_copy_of_a_plain_future_says_what_to_do() -> None:
    copy = pickle.loads(pickle.dumps(ResponseFuture("e", "M000", "00000")))
    with pytest.raises(JobCancelledError, match="not attached"):
        copy.result(timeout=5)


# -- RetryingFuture over anything shaped like Lithops's ResponseFuture ---------------------------------------


class LithopsShapedFuture:
    """Has only what Lithops's ResponseFuture offers that RetryingFuture may read; anything else is an error."""

    __slots__ = ("_value", "done", "error", "ready", "running", "stats", "success")

    def __init__(self, value: Any) -> None:
        self._value = value
        failed = isinstance(value, BaseException)
        self.done, self.error, self.success, self.ready, self.running = True, failed, failed, False, False
        self.stats = {"worker_exec_time": 0.1}

    def status(self, throw_except: bool = True, internal_storage: Any = None, check_only: bool = False) -> Any:
        if self.error and throw_except:
            raise self._value
        return self.stats

    def result(self, throw_except: bool = True, internal_storage: Any = None) -> Any:
        if self.error:
            if throw_except:
                raise self._value
            return None
        return self._value


def test_retrying_future_over_a_lithops_shaped_future() -> None:
    ok = RetryingFuture(LithopsShapedFuture(7), times_ten, 1)
    assert ok.done and not ok.error and ok.stats == {"worker_exec_time": 0.1}
    assert ok.result() == 7 and ok.status() == {"worker_exec_time": 0.1} and ok.exception() is None
    bad = RetryingFuture(LithopsShapedFuture(ValueError("bad")), times_ten, 1, retries=2)
    assert bad.done and bad.error and bad._should_retry()
    for read in (bad.result, bad.status):
        with pytest.raises(ValueError, match="bad"):
            read(throw_except=False)  # as in Lithops: the error is re-raised whatever throw_except says
    assert isinstance(bad.exception(), ValueError)


def test_retrying_wait_reraises_as_lithops(fexec: Any) -> None:
    rexec = lithops.RetryingFunctionExecutor(fexec)
    futures = rexec.map(fail, [1], retries=0)
    done, pending = rexec.wait(futures, throw_except=False)
    assert done == futures and not pending and futures[0].done and futures[0].error
    with pytest.raises(ValueError, match="bad 1"):
        futures[0].result(throw_except=False)


def test_retry_helpers_can_be_overridden(fexec: Any, tmp_path: Any) -> None:
    calls: list[str] = []

    class TwoRetries(lithops.RetryingFunctionExecutor):
        def _retries_to_use(self, retries: int | None) -> int:
            calls.append("retries_to_use")
            return 2

    class CountingFuture(RetryingFuture):
        def _inc_failure_count(self) -> None:
            calls.append("inc")
            super()._inc_failure_count()

        def _should_retry(self) -> bool:
            calls.append("should_retry")
            return self.failure_count < 2  # one retry, whatever the budget says

    rexec = TwoRetries(fexec)
    futures = rexec.map(fail, [1])
    assert futures[0].retries == 2
    futures[0].__class__ = CountingFuture
    with pytest.raises(ValueError, match="bad 1"):
        rexec.wait(futures)
    assert calls == ["retries_to_use", "inc", "should_retry", "inc", "should_retry"]


# -- executor and wait signatures of Lithops 3.8 ------------------------------------------------------------


def _params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def test_signatures_in_lithops_order() -> None:
    from lithops.wait import get_result, wait

    assert _params(wait) == ["fs", "internal_storage", "job_monitor", "throw_except", "return_when",
                             "download_results", "timeout", "threadpool_size", "wait_dur_sec", "show_progressbar",
                             "futures_from_executor_wait"]
    assert _params(get_result) == ["fs", "internal_storage", "throw_except", "timeout", "threadpool_size",
                                   "wait_dur_sec", "show_progressbar"]
    assert _params(lithops.FunctionExecutor)[:7] == ["mode", "config", "config_file", "backend", "storage",
                                                    "monitoring", "log_level"]
    assert _params(lithops.FunctionExecutor.wait)[-1] == "clean_jobs"
    assert _params(lithops.LocalhostExecutor) == ["config", "config_file", "storage", "monitoring", "log_level",
                                                  "kwargs"]
    for mode_executor in (lithops.ServerlessExecutor, lithops.StandaloneExecutor):
        assert _params(mode_executor) == ["config", "config_file", "backend", "storage", "monitoring", "log_level",
                                          "kwargs"]
    assert _params(ResponseFuture.result)[:5] == ["self", "throw_except", "internal_storage", "retries",
                                                  "wait_dur_sec"]
    assert _params(ResponseFuture.status) == ["self", "throw_except", "internal_storage", "check_only",
                                              "wait_dur_sec"]


def test_wait_positionally_as_in_lithops(fexec: Any) -> None:
    futures = fexec.map(times_ten, [1, 2])
    done, not_done = lithops.wait(futures, None, None, True, lithops.wait.ALL_COMPLETED, True)
    assert len(done) == 2 and not not_done
    assert lithops.get_result(futures, None, True, 30) == [10, 20]
    done, _ = lithops.wait(futures, futures_from_executor_wait=True)
    assert len(done) == 2


def test_mode_executors_take_config_file_and_kwargs(warm_pool: None, tmp_path: Any) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(f"lithops:\n  backend: localhost\nlocalhost:\n  storage_root: {tmp_path / 'root'}\n")
    with lithops.LocalhostExecutor(config_file=str(config_file), log_level=None, runtime_memory=512) as fexec:
        assert fexec.config["localhost"]["storage_root"] == str(tmp_path / "root")
        assert fexec.config["localhost"]["runtime_memory"] == 512
        assert fexec.call_async(times_ten, 4).result() == 40
    with lithops.FunctionExecutor(config_file=str(config_file), log_level=None) as fexec:
        assert fexec.config["localhost"]["storage_root"] == str(tmp_path / "root")


def test_wait_clean_jobs(sim_config: dict[str, Any]) -> None:
    with lithops.FunctionExecutor(config={**sim_config, "lithops": {**sim_config["lithops"], "data_cleaner": False}},
                                  log_level=None) as fexec:
        kept, cleaned = fexec.map(times_ten, [1]), fexec.map(times_ten, [2])
        fexec.wait(kept)
        fexec.wait(cleaned, clean_jobs=True)
        storage = fexec.storage
        assert storage.list_keys(storage.bucket, f"lithops.jobs/{fexec.executor_id}/{kept[0].job_id}/")
        assert not storage.list_keys(storage.bucket, f"lithops.jobs/{fexec.executor_id}/{cleaned[0].job_id}/")
        assert fexec.get_result() == [10, 20]


def test_statuses_written_for_pickled_futures_are_cleaned_on_request(storage_fexec: Any) -> None:
    fut = storage_fexec.call_async(sleepy, 0.5)
    pickle.dumps(fut)  # still running: its status will be written to storage for the copy
    fut.result()
    storage = storage_fexec.storage
    prefix = f"lithops.jobs/{storage_fexec.executor_id}/{fut.job_id}/"
    deadline = time.monotonic() + 30
    while not storage.list_keys(storage.bucket, prefix) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert storage.list_keys(storage.bucket, prefix) == [f"{prefix}00000/output.pickle", f"{prefix}00000/status.json"]
    storage_fexec.close()  # the automatic clean keeps them, for the copies
    assert storage.list_keys(storage.bucket, prefix)
    storage_fexec.clean()
    assert not storage.list_keys(storage.bucket, prefix)
