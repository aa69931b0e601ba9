"""The compute contract: the executor API end to end on one compute backend."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from lithops.errors import FunctionTimeoutError, WorkerDiedError
from lithops.executors import FunctionExecutor


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


class ComputeContract:
    """Subclass with a fixture ``config``: a full Lithops config dict selecting the backend under test.

    Capabilities that may be listed in ``skip_capabilities``:
        ``timeout``: the backend cannot stop a call at its execution timeout.
        ``worker_death``: the backend cannot tell within seconds that a worker died.
    """

    skip_capabilities: ClassVar[set[str]] = set()

    def _skip_unless(self, capability: str) -> None:
        if capability in self.skip_capabilities:
            pytest.skip(f"backend declares no '{capability}' capability")

    @pytest.fixture
    def fexec(self, config: dict[str, Any]) -> Iterator[FunctionExecutor]:
        executor = FunctionExecutor(config=config, log_level=None)
        try:
            yield executor
        finally:
            executor.close()

    def test_call_async(self, fexec: FunctionExecutor) -> None:
        assert fexec.call_async(_double, 21).result() == 42

    def test_map_keeps_order(self, fexec: FunctionExecutor) -> None:
        assert fexec.map(_double, range(50)).get_result() == [x * 2 for x in range(50)]

    def test_argument_binding(self, fexec: FunctionExecutor) -> None:
        futures = fexec.map(_add, [(1, 2), {"x": 3, "y": 4}])
        assert fexec.get_result(futures) == [3, 7]
        assert fexec.map(_add, [1, 2], extra_args=(10,)).get_result() == [11, 12]

    def test_injected_call_index(self, fexec: FunctionExecutor) -> None:
        assert fexec.map(_call_index, [7, 8, 9]).get_result() == [(7, 0), (8, 1), (9, 2)]

    def test_extra_env(self, fexec: FunctionExecutor) -> None:
        future = fexec.call_async(_env, "LITHOPS_CONTRACT_VAR", extra_env={"LITHOPS_CONTRACT_VAR": "set"})
        assert future.result() == "set"

    def test_remote_exception(self, fexec: FunctionExecutor) -> None:
        future = fexec.call_async(_boom, "contract failure")
        with pytest.raises(ValueError, match="contract failure") as info:
            future.result()
        assert "_boom" in str(info.value.__cause__)
        assert future.error

    def test_map_reduce(self, fexec: FunctionExecutor) -> None:
        assert fexec.map_reduce(_double, range(10), _total).get_result() == 90

    def test_storage_injection(self, fexec: FunctionExecutor) -> None:
        assert fexec.call_async(_store, "contract/written").result() == b"written by a worker"

    def test_megabyte_arguments(self, fexec: FunctionExecutor) -> None:
        payload = os.urandom(1024 * 1024)
        assert fexec.map(_size, [payload] * 4).get_result() == [len(payload)] * 4

    def test_many_calls(self, fexec: FunctionExecutor) -> None:
        assert fexec.map(_double, range(300)).get_result() == [x * 2 for x in range(300)]

    def test_data_map_over_the_storage(self, fexec: FunctionExecutor) -> None:
        storage = fexec.storage
        lines = "".join(f"line {i}\n" for i in range(500))
        storage.put_object(storage.bucket, "contract-data/a.txt", lines)
        storage.put_object(storage.bucket, "contract-data/b.txt", lines[:1000])
        try:
            futures = fexec.map_reduce(_count_lines, f"{storage.bucket}/contract-data/", _total,
                                       obj_chunk_size=700)
            assert fexec.get_result(futures) == 500 + lines[:1000].count("\n")
            assert len(futures) > 3  # several chunks per object, then the reducer
        finally:
            storage.delete_objects(storage.bucket, ["contract-data/a.txt", "contract-data/b.txt"])

    def test_execution_timeout(self, fexec: FunctionExecutor) -> None:
        self._skip_unless("timeout")
        start = time.monotonic()
        future = fexec.call_async(_sleep, 60, timeout=1)
        with pytest.raises(FunctionTimeoutError):
            future.result()
        assert time.monotonic() - start < 30

    def test_worker_death(self, fexec: FunctionExecutor) -> None:
        self._skip_unless("worker_death")
        futures = fexec.map(_die, [3])
        ok = fexec.map(_double, range(5))
        with pytest.raises(WorkerDiedError):
            futures[0].result(timeout=60)
        assert ok.get_result() == [0, 2, 4, 6, 8]
