"""call_async / map end to end: how inputs bind to arguments, extra_args, extra_env and injected parameters."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

import lithops


def echo(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def add(x: int, y: int = 0, z: int = 0) -> int:
    return x + 10 * y + 100 * z


def ident(x: Any) -> Any:
    return x


def with_id(x: int, id: int) -> tuple[int, int, int]:
    return id, x, os.getpid()


def read_env(name: str) -> str | None:
    return os.environ.get(name)


def storage_roundtrip(key: str, storage: Any) -> tuple[bytes, str, str]:
    body = f"written by {key}".encode()
    storage.put_object(storage.bucket, key, body)
    return storage.get_object(storage.bucket, key), type(storage).__name__, storage.backend


def in_worker() -> tuple[str | None, int]:
    return os.environ.get("LITHOPS_WORKER"), os.getpid()


# -- call_async ----------------------------------------------------------------------------------------------


def test_call_async_runs_in_another_process(module_fexec: Any) -> None:
    marker, pid = module_fexec.call_async(in_worker, ()).result()
    assert marker == "1"
    assert pid != os.getpid()


def test_call_async_tuple_is_positional_args(module_fexec: Any) -> None:
    assert module_fexec.call_async(add, (1, 2, 3)).result() == 321


def test_call_async_dict_is_kwargs(module_fexec: Any) -> None:
    assert module_fexec.call_async(add, {"x": 1, "z": 2}).result() == 201
    assert module_fexec.call_async(echo, {"a": 1, "b": [2]}).result() == ((), {"a": 1, "b": [2]})


def test_call_async_other_value_is_the_one_argument(module_fexec: Any) -> None:
    assert module_fexec.call_async(ident, [1, 2, 3]).result() == [1, 2, 3]
    assert module_fexec.call_async(ident, "text").result() == "text"
    assert module_fexec.call_async(ident, None).result() is None
    assert module_fexec.call_async(echo, 5).result() == ((5,), {})


def test_call_async_nested_tuple_is_one_argument(module_fexec: Any) -> None:
    # the outer tuple holds the positional args: its single element is the tuple (1, 2)
    assert module_fexec.call_async(ident, ((1, 2),)).result() == (1, 2)


def test_call_async_returns_a_response_future(module_fexec: Any) -> None:
    from lithops.futures import ResponseFuture

    fut = module_fexec.call_async(ident, 7)
    assert isinstance(fut, ResponseFuture)
    assert fut.result() == 7


# -- map -----------------------------------------------------------------------------------------------------


def test_map_binds_each_element(module_fexec: Any) -> None:
    data = [(1, 2), {"x": 3, "y": 4}, 5, (6,), {"x": 7}]
    assert module_fexec.get_result(module_fexec.map(add, data)) == [21, 43, 5, 6, 7]


def test_map_keeps_call_order(module_fexec: Any) -> None:
    data = list(range(50))
    assert module_fexec.map(ident, data).get_result() == data


def test_map_accepts_any_iterable(module_fexec: Any) -> None:
    assert module_fexec.map(ident, range(4)).get_result() == [0, 1, 2, 3]
    assert module_fexec.map(ident, (x for x in "ab")).get_result() == ["a", "b"]
    # a tuple as map_iterdata is a list of inputs, not arguments
    assert module_fexec.map(ident, (1, 2)).get_result() == [1, 2]


def test_map_list_elements_are_one_argument(module_fexec: Any) -> None:
    assert module_fexec.map(ident, [[1, 2], [3]]).get_result() == [[1, 2], [3]]


def test_map_extra_args_tuple_is_appended(module_fexec: Any) -> None:
    futures = module_fexec.map(add, [1, (2,)], extra_args=(3, 4))
    assert module_fexec.get_result(futures) == [1 + 30 + 400, 2 + 30 + 400]


def test_map_extra_args_dict_is_merged(module_fexec: Any) -> None:
    futures = module_fexec.map(add, [1, {"x": 2}, (3, 4)], extra_args={"z": 5})
    assert module_fexec.get_result(futures) == [501, 502, 543]


def test_map_extra_args_reach_varargs(module_fexec: Any) -> None:
    results = module_fexec.map(echo, [(1,), {"k": 2}], extra_args=("e",)).get_result()
    assert results == [((1, "e"), {}), (("e",), {"k": 2})]
    results = module_fexec.map(echo, [(1,), {"k": 2}], extra_args={"e": 0}).get_result()
    assert results == [((1,), {"e": 0}), ((), {"k": 2, "e": 0})]


def test_extra_env_is_visible_inside_the_call(module_fexec: Any) -> None:
    name = "LITHOPS_TEST_EXTRA_ENV"
    assert module_fexec.map(read_env, [name, name], extra_env={name: "from-map"}).get_result() == ["from-map"] * 2
    assert module_fexec.call_async(read_env, name, extra_env={name: "from-call"}).result() == "from-call"


def test_extra_env_does_not_leak_into_later_calls(module_fexec: Any) -> None:
    name = "LITHOPS_TEST_LEAK_ENV"
    module_fexec.map(read_env, [name] * 4, extra_env={name: "set"}).get_result()
    assert module_fexec.map(read_env, [name] * 4).get_result() == [None] * 4


def test_id_is_the_call_index(module_fexec: Any) -> None:
    results = module_fexec.map(with_id, [10, 20, 30, 40, 50]).get_result()
    assert [(i, x) for i, x, _ in results] == [(0, 10), (1, 20), (2, 30), (3, 40), (4, 50)]
    assert all(isinstance(i, int) for i, _, _ in results)


def test_id_in_call_async_is_zero(module_fexec: Any) -> None:
    assert module_fexec.call_async(with_id, 9).result()[:2] == (0, 9)


def test_storage_is_injected_and_usable(storage_fexec: Any, storage_config: dict[str, Any]) -> None:
    results = storage_fexec.map(storage_roundtrip, ["k/one", "k/two"]).get_result()
    assert results == [(b"written by k/one", "Storage", "localhost"), (b"written by k/two", "Storage", "localhost")]
    # the objects are in this test's storage root, readable from the client
    storage = lithops.Storage(config=storage_config)
    assert storage.get_object(storage.bucket, "k/two") == b"written by k/two"
    root = storage_config["localhost"]["storage_root"]
    assert os.path.isfile(os.path.join(root, storage.bucket, "k", "one"))


def test_storage_and_id_together(storage_fexec: Any) -> None:
    def both(x: int, id: int, storage: Any) -> tuple[int, int, bool]:
        storage.put_object(storage.bucket, f"both/{id}", str(x))
        return id, x, storage.get_object(storage.bucket, f"both/{id}") == str(x).encode()

    assert storage_fexec.map(both, [7, 8]).get_result() == [(0, 7, True), (1, 8, True)]


@pytest.mark.parametrize("chunksize", [1, 3, 100])
def test_chunksize_is_accepted(module_fexec: Any, chunksize: int) -> None:
    data = list(range(10))
    assert module_fexec.map(ident, data, chunksize=chunksize).get_result() == data


def slow_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_map_spreads_calls_over_worker_processes() -> None:
    with lithops.FunctionExecutor(worker_processes=2, log_level=None) as ex:
        pids = set(ex.map(slow_pid, [0.3] * 4).get_result())
    assert os.getpid() not in pids
    assert len(pids) == 2


def test_empty_map_returns_no_futures(module_fexec: Any) -> None:
    futures = module_fexec.map(ident, [])
    assert len(futures) == 0
    assert module_fexec.get_result(futures) == []


def test_lambda_and_closure_run(module_fexec: Any) -> None:
    base = 100
    assert module_fexec.map(lambda x: x + base, [1, 2]).get_result() == [101, 102]


def test_context_manager_closes(fexec: Any) -> None:
    with lithops.FunctionExecutor(log_level=None) as ex:
        assert ex.call_async(ident, "ctx").result() == "ctx"


def test_localhost_executor(fexec: Any) -> None:
    with lithops.LocalhostExecutor(log_level=None) as ex:
        assert ex.mode == "localhost"
        assert ex.backend == "localhost"
        assert ex.map(add, [(1, 1)]).get_result() == [11]
