"""The compute contract: the executor API end to end on one compute backend."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from lithops.errors import ConfigError, FunctionTimeoutError, WaitTimeoutError, WorkerDiedError
from lithops.executors import FunctionExecutor
from lithops.futures import ResponseFuture
from lithops.job.job import JobRequest
from lithops.job.status import CallStatus
from lithops.testing._common import ContractSuite, bounded_join
from lithops.worker.handler import started_key


def _double(x: int) -> int:
    return x * 2


def _add(x: int, y: int) -> int:
    return x + y


def _call_index(x: int, id: int) -> tuple[int, int]:
    return x, id


def _env(name: str) -> str | None:
    return os.environ.get(name)


def _boom(message: str) -> None:
    raise ValueError(message)


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


def _size(data: bytes) -> int:
    return len(data)


def _total(results: list[int]) -> int:
    return sum(results)


def _store(key: str, storage: Any) -> bytes:
    storage.put_object(storage.bucket, key, b"written by a worker")
    data: bytes = storage.get_object(storage.bucket, key)
    storage.delete_object(storage.bucket, key)
    return data


def _count_lines(obj: Any) -> int:
    return int(obj.data_stream.read().count(b"\n"))


def _die(code: int) -> None:
    os._exit(code)


def _mark(prefix: str, pause: float, id: int, storage: Any) -> int:
    """Leave one object per run of this call, then sleep ``pause`` seconds."""
    storage.put_object(storage.bucket, f"{prefix}/{id}/{uuid.uuid4().hex}", b"")
    time.sleep(pause)
    return id


def _names(futures: list[ResponseFuture]) -> str:
    shown = ", ".join(f"call {f.call_id} of job {f.job_key}" for f in futures[:8])
    return shown + (f" and {len(futures) - 8} more" if len(futures) > 8 else "")


class ComputeContract(ContractSuite):
    """Subclass with a fixture ``config``: a full Lithops config dict selecting the backend under test.

    Every wait is bounded by ``call_timeout`` seconds: a call the backend drops fails its test, named, after
    that long. Capabilities that may be listed in ``skip_capabilities`` (another name is an error):
        ``timeout``: the backend cannot stop a call at its execution timeout.
        ``worker_death``: the backend cannot tell within seconds that a worker died.
        ``worker_failure``: the backend cannot tell that a worker invocation broke outside its calls.
        ``cancel``: the backend cannot keep queued calls of a cancelled job from starting.
        ``extra_env``: calls run in the client's own process (``run_payload(..., in_process=True)``), where
        ``extra_env`` cannot apply: the suite then checks that such calls fail with a ``ConfigError`` saying so.
    """

    capabilities: ClassVar[dict[str, str]] = {
        "timeout": "the backend cannot stop a call at its execution timeout",
        "worker_death": "the backend cannot tell within seconds that a worker died",
        "worker_failure": "the backend cannot tell that a worker invocation broke outside its calls",
        "cancel": "the backend cannot keep queued calls of a cancelled job from starting",
        "extra_env": "calls run in the client's own process, where extra_env cannot apply",
    }
    #: Seconds any wait for calls may take before the test fails, naming the calls still missing.
    call_timeout: ClassVar[float] = 60.0

    @pytest.fixture
    def fexec(self, config: dict[str, Any]) -> Iterator[FunctionExecutor]:
        executor = FunctionExecutor(config=config, log_level=None)
        try:
            yield executor
        finally:
            self._close(executor)

    def _close(self, executor: FunctionExecutor) -> None:
        closer = threading.Thread(target=executor.close, name="contract-close", daemon=True)
        closer.start()
        bounded_join(closer, self.call_timeout, f"FunctionExecutor.close() of backend {executor.backend}")

    def _get(self, futures: ResponseFuture | list[ResponseFuture]) -> Any:
        """The result(s) of ``futures``, waiting at most ``call_timeout`` seconds."""
        try:
            if isinstance(futures, ResponseFuture):
                return futures.result(timeout=self.call_timeout)
            return futures.get_result(timeout=self.call_timeout)  # type: ignore[attr-defined]
        except WaitTimeoutError:
            pending = [f for f in ([futures] if isinstance(futures, ResponseFuture) else futures) if not f.done]
            pytest.fail(f"{len(pending)} call(s) did not finish within {self.call_timeout:g} s: {_names(pending)}. "
                        f"The backend dropped or never ran them.")

    def test_call_async(self, fexec: FunctionExecutor) -> None:
        assert self._get(fexec.call_async(_double, 21)) == 42

    def test_map_keeps_order(self, fexec: FunctionExecutor) -> None:
        assert self._get(fexec.map(_double, range(50))) == [x * 2 for x in range(50)]

    def test_argument_binding(self, fexec: FunctionExecutor) -> None:
        futures = fexec.map(_add, [(1, 2), {"x": 3, "y": 4}])
        assert self._get(futures) == [3, 7]
        assert self._get(fexec.map(_add, [1, 2], extra_args=(10,))) == [11, 12]

    def test_injected_call_index(self, fexec: FunctionExecutor) -> None:
        assert self._get(fexec.map(_call_index, [7, 8, 9])) == [(7, 0), (8, 1), (9, 2)]

    def test_extra_env(self, fexec: FunctionExecutor) -> None:
        future = fexec.call_async(_env, "LITHOPS_CONTRACT_VAR", extra_env={"LITHOPS_CONTRACT_VAR": "set"})
        if "extra_env" in self.skip_capabilities:  # refused, with the reason, rather than leaked to the client
            with pytest.raises(ConfigError, match="extra_env cannot be applied"):
                self._get(future)
            assert "LITHOPS_CONTRACT_VAR" not in os.environ
            return
        assert self._get(future) == "set"

    def test_remote_exception(self, fexec: FunctionExecutor) -> None:
        future = fexec.call_async(_boom, "contract failure")
        with pytest.raises(ValueError, match="contract failure") as info:
            self._get(future)
        assert "_boom" in str(info.value.__cause__)
        assert future.error

    def test_map_reduce(self, fexec: FunctionExecutor) -> None:
        assert self._get(fexec.map_reduce(_double, range(10), _total)) == 90

    def test_backend_holds_the_executors_storage(self, fexec: FunctionExecutor) -> None:
        """The backend was handed the executor's storage (a subclass __init__ passes ``storage`` on)."""
        storage, path = fexec.compute.job_storage()
        assert storage is fexec.storage, "job_storage() is not the executor's Storage"
        assert ":" in path, f"job_storage() names the storage class {path!r}; expected 'module:Class'"

    def test_storage_injection(self, fexec: FunctionExecutor) -> None:
        assert self._get(fexec.call_async(_store, "contract/written")) == b"written by a worker"

    def test_megabyte_arguments(self, fexec: FunctionExecutor) -> None:
        payload = os.urandom(1024 * 1024)
        assert self._get(fexec.map(_size, [payload] * 4)) == [len(payload)] * 4

    def test_many_calls(self, fexec: FunctionExecutor) -> None:
        assert self._get(fexec.map(_double, range(300))) == [x * 2 for x in range(300)]

    def test_data_map_over_the_storage(self, fexec: FunctionExecutor) -> None:
        storage = fexec.storage
        lines = "".join(f"line {i}\n" for i in range(500))
        storage.put_object(storage.bucket, "contract-data/a.txt", lines)
        storage.put_object(storage.bucket, "contract-data/b.txt", lines[:1000])
        try:
            futures = fexec.map_reduce(_count_lines, f"{storage.bucket}/contract-data/", _total,
                                       obj_chunk_size=700)
            assert self._get(futures) == 500 + lines[:1000].count("\n")
            assert len(futures) > 3  # several chunks per object, then the reducer
        finally:
            storage.delete_objects(storage.bucket, ["contract-data/a.txt", "contract-data/b.txt"])

    def test_execution_timeout(self, fexec: FunctionExecutor) -> None:
        self._skip_unless("timeout")
        start = time.monotonic()
        future = fexec.call_async(_sleep, 60, timeout=1)
        with pytest.raises(FunctionTimeoutError):
            self._get(future)
        assert time.monotonic() - start < 30

    def test_worker_death(self, fexec: FunctionExecutor) -> None:
        self._skip_unless("worker_death")
        futures = fexec.map(_die, [3])
        ok = fexec.map(_double, range(5))
        with pytest.raises(WorkerDiedError):
            self._get(futures[0])
        assert self._get(ok) == [0, 2, 4, 6, 8]

    def test_each_call_runs_once(self, fexec: FunctionExecutor) -> None:
        prefix = f"lithops.contract/once-{uuid.uuid4().hex[:8]}"
        calls = 12
        assert self._get(fexec.map(_mark, [(prefix, 0.0)] * calls)) == list(range(calls))
        storage = fexec.storage
        time.sleep(1.0)  # a second run of a call would have left its mark by now
        keys = storage.list_keys(storage.bucket, prefix + "/")
        storage.delete_objects(storage.bucket, keys)
        runs = {i: sum(k.split("/")[-2] == str(i) for k in keys) for i in range(calls)}
        twice = {i: n for i, n in runs.items() if n != 1}
        assert not twice, f"calls ran this many times (call id: runs), each must run once: {twice}"

    def test_a_running_call_is_marked_started(self, fexec: FunctionExecutor) -> None:
        """Storage transport: a worker writes a call's ``started`` marker as the call begins (``run_payload``
        does), or the client fails calls still running after the backend's ``start_timeout`` as never started.
        """
        if fexec.compute.transport != "storage" or fexec.compute.start_timeout is None:
            pytest.skip("only storage-transport backends with a start_timeout mark their calls started")
        future = fexec.call_async(_sleep, 2)
        storage, key = fexec.storage, started_key(future.executor_id, future.job_id, future.call_id)
        deadline = time.monotonic() + self.call_timeout
        while key not in storage.list_keys(storage.bucket, key):
            assert time.monotonic() < deadline, (
                f"no start marker {key} for call {future.call_id} of job {future.job_key} within "
                f"{self.call_timeout:g} s: workers must write it when a call starts (docs/protocol.md)")
            time.sleep(0.05)
        assert self._get(future) == "woke up"

    def test_worker_failure_fails_the_calls_at_once(self, fexec: FunctionExecutor) -> None:
        """A worker invocation that breaks outside the calls (here its payload names a storage backend that
        does not exist, so no status can be written) must be reported failed through ``report``, not left
        for the client's execution timeout.
        """
        self._skip_unless("worker_failure")
        executor_id = f"contract{uuid.uuid4().hex[:6]}"
        job = JobRequest(
            executor_id=executor_id, job_id="W000", function_name="contract.unrunnable",
            function=b"not a pickled function", call_data=[b"not pickled arguments"] * 3,
            storage_backend="lithops_contract_no_such_module:NoStorage", config=dict(fexec.config),
            func_key=f"lithops.contract/{executor_id}/func.pickle", data_key=f"lithops.contract/{executor_id}/data",
            data_ranges=[(0, 1)] * 3, execution_timeout=600,
        )
        reported: dict[str, CallStatus] = {}
        done = threading.Event()

        def report(status: CallStatus) -> None:
            reported.setdefault(status.call_id, status)
            if len(reported) == job.total_calls:
                done.set()

        fexec.compute.invoke(job, report)
        done.wait(self.call_timeout)
        missing = [c for c in job.call_ids if c not in reported]
        assert not missing, (f"calls {missing} of a job its workers cannot run were not reported failed within "
                             f"{self.call_timeout:g} s: a backend must report() them (lithops.backends.helpers."
                             f"report_failed), or the user waits for the execution timeout")
        succeeded = [c for c, st in reported.items() if st.success]
        assert not succeeded, f"calls {succeeded} of a job that cannot run were reported successful"

    def test_new_executor_after_close(self, config: dict[str, Any]) -> None:
        for round in range(2):
            executor = FunctionExecutor(config=config, log_level=None)
            try:
                assert self._get(executor.map(_double, range(4))) == [0, 2, 4, 6], f"executor {round + 1}"
            finally:
                self._close(executor)

    def test_same_executor_after_close(self, fexec: FunctionExecutor) -> None:
        """``close()`` releases the backend's workers; using the executor again acquires them again."""
        assert self._get(fexec.map(_double, range(3))) == [0, 2, 4]
        self._close(fexec)
        assert self._get(fexec.map(_double, range(3))) == [0, 2, 4], "a map after close()"
        assert self._get(fexec.call_async(_double, 5)) == 10, "a call after close()"

    def test_cancel_stops_queued_calls(self, config: dict[str, Any]) -> None:
        self._skip_unless("cancel")
        fexec = FunctionExecutor(config=config, log_level=None, worker_processes=1)  # one call at a time per worker
        try:
            self._cancel_stops_queued_calls(fexec)
        finally:
            self._close(fexec)

    def _cancel_stops_queued_calls(self, fexec: FunctionExecutor) -> None:
        workers = fexec.compute.max_workers
        if workers > 16:
            pytest.skip(f"max_workers is {workers}: set at most 16 in the contract config so calls queue")
        # a pause long enough that a loaded machine still cancels before the queued calls would all have run
        prefix, pause = f"lithops.contract/cancel-{uuid.uuid4().hex[:8]}", 1.0
        calls = 3 * workers + 1
        futures = fexec.map(_mark, [(prefix, pause)] * calls)
        storage = fexec.storage
        deadline = time.monotonic() + self.call_timeout
        while not storage.list_keys(storage.bucket, prefix + "/"):
            if time.monotonic() > deadline:
                pytest.fail(f"no call of job {futures[0].job_key} started within {self.call_timeout:g} s")
            time.sleep(0.02)
        fexec.compute.cancel_jobs({futures[0].job_key})  # the backend's cancel, with the job's data still there
        time.sleep(pause * (calls / workers + 2))  # long enough for every call to have run, were it not cancelled
        ran = len(storage.list_keys(storage.bucket, prefix + "/"))
        storage.delete_objects(storage.bucket, storage.list_keys(storage.bucket, prefix + "/"))
        fexec.clean(fs=futures, force=True)  # fails the futures of the calls that never ran
        assert all(f.done for f in futures), "clean(force=True) left futures unfinished"
        assert ran < calls, (f"all {calls} calls ran after their job was cancelled while at most {workers} "
                             f"could be running: cancel_jobs(job_keys) must keep queued calls from starting")
