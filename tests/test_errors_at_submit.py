"""Mistakes caught when a job is submitted, before any call runs; and results over result_limit."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lithops
from lithops.errors import PayloadTooLargeError, SerializationError

MIB = 1024 * 1024


def touch_and_return(marker: str, value: Any = None) -> Any:
    Path(marker).touch()
    return value


def ident(x: Any) -> Any:
    return x


def two_args(a: int, b: int) -> int:
    return a + b


def takes_conn(conn: Any) -> str:
    return type(conn).__name__


def make_bytes(n: int) -> bytes:
    return b"x" * n


@pytest.fixture
def lock_socket() -> Iterator[socket.socket]:
    s = socket.socket()
    try:
        yield s
    finally:
        s.close()


def assert_nothing_ran(fexec: Any, before: int, marker_dir: Path) -> None:
    assert len(fexec.futures) == before
    assert list(marker_dir.iterdir()) == []


# -- unpicklable function or argument ------------------------------------------------------------------------


def test_unpicklable_function_closure(module_fexec: Any) -> None:
    lock = threading.Lock()

    def uses_lock(x: int) -> int:
        with lock:
            return x

    with pytest.raises(SerializationError) as info:
        module_fexec.map(uses_lock, [1, 2])
    message = str(info.value)
    assert "uses_lock" in message
    assert "lock" in message
    assert "_thread.lock" in message or "_thread.RLock" in message
    assert isinstance(info.value, TypeError)


def test_unpicklable_argument_in_dict(module_fexec: Any, lock_socket: socket.socket, tmp_path: Path) -> None:
    marker = tmp_path / "markers"
    marker.mkdir()
    before = len(module_fexec.futures)
    data: list[Any] = [{"marker": str(marker / str(i)), "value": i} for i in range(3)]
    data.append({"marker": str(marker / "3"), "value": {"conn": lock_socket}})
    with pytest.raises(SerializationError) as info:
        module_fexec.map(touch_and_return, data)
    message = str(info.value)
    assert "call 3" in message
    assert "iterdata[3]['value']['conn']" in message
    assert "socket.socket" in message
    assert_nothing_ran(module_fexec, before, marker)


def test_unpicklable_keyword_argument(module_fexec: Any) -> None:
    with pytest.raises(SerializationError) as info:
        module_fexec.map(takes_conn, [{"conn": 1}, {"conn": 2}, {"conn": 3}, {"conn": threading.Lock()}])
    message = str(info.value)
    assert "iterdata[3]['conn']" in message
    assert "_thread.lock" in message


def test_unpicklable_positional_argument(module_fexec: Any) -> None:
    with pytest.raises(SerializationError, match=r"iterdata\[1\]\[0\] is a _thread\.lock"):
        module_fexec.map(takes_conn, [(1,), (threading.Lock(),)])


def test_unpicklable_call_async_argument(module_fexec: Any) -> None:
    with pytest.raises(SerializationError, match="lock"):
        module_fexec.call_async(ident, threading.Lock())


def test_unpicklable_extra_args(module_fexec: Any) -> None:
    with pytest.raises(SerializationError, match=r"extra_args\[0\] is a _thread\.lock"):
        module_fexec.map(two_args, [1], extra_args=(threading.Lock(),))


# -- arguments that do not fit the function ------------------------------------------------------------------


def test_signature_mismatch_raises_at_map(module_fexec: Any, tmp_path: Path) -> None:
    marker = tmp_path / "markers"
    marker.mkdir()
    before = len(module_fexec.futures)
    data = [(str(marker / "0"),), (str(marker / "1"), 1, 2)]  # the second has one argument too many
    with pytest.raises(TypeError) as info:
        module_fexec.map(touch_and_return, data)
    assert not isinstance(info.value, SerializationError)
    assert "call 1" in str(info.value) and "touch_and_return" in str(info.value)
    assert_nothing_ran(module_fexec, before, marker)


def test_missing_argument(module_fexec: Any) -> None:
    with pytest.raises(TypeError, match="two_args"):
        module_fexec.map(two_args, [1, 2])
    with pytest.raises(TypeError, match="two_args"):
        module_fexec.call_async(two_args, (1,))


def test_unexpected_keyword(module_fexec: Any) -> None:
    with pytest.raises(TypeError, match="'c'"):
        module_fexec.map(two_args, [{"a": 1, "b": 2, "c": 3}])
    with pytest.raises(TypeError):
        module_fexec.map(two_args, [(1,)], extra_args={"c": 3})


def test_bad_map_iterdata(module_fexec: Any) -> None:
    with pytest.raises(TypeError):
        module_fexec.map(ident, 5)
    with pytest.raises(TypeError, match="dict"):
        module_fexec.map(ident, {"a": 1})
    with pytest.raises(TypeError, match="str"):
        module_fexec.map(ident, "abc")


def test_not_callable(module_fexec: Any) -> None:
    with pytest.raises(TypeError, match="callable"):
        module_fexec.call_async("not a function", 1)
    with pytest.raises(TypeError, match="callable"):
        module_fexec.map(42, [1])


def test_extra_env_must_be_a_dict(module_fexec: Any) -> None:
    with pytest.raises(TypeError, match="extra_env"):
        module_fexec.map(ident, [1], extra_env=["A=1"])


def test_executor_still_works_after_submit_errors(module_fexec: Any) -> None:
    with pytest.raises(TypeError):
        module_fexec.map(two_args, [1])
    assert module_fexec.map(two_args, [(1, 2)]).get_result() == [3]


# -- size limits -----------------------------------------------------------------------------------------------


def test_input_over_data_limit(warm_pool: None) -> None:
    with lithops.FunctionExecutor(config={"lithops": {"data_limit": 1}}, log_level=None) as fexec:
        before = len(fexec.futures)
        with pytest.raises(PayloadTooLargeError) as info:
            fexec.map(ident, [b"small", b"y" * (2 * MIB)])
        assert "data_limit" in str(info.value)
        assert "call 1" in str(info.value)
        assert len(fexec.futures) == before
        with pytest.raises(PayloadTooLargeError, match="data_limit"):
            fexec.call_async(ident, b"y" * (2 * MIB))
        assert fexec.call_async(len, b"y" * (MIB // 2)).result() == MIB // 2


def test_data_limit_false_disables_the_check(warm_pool: None) -> None:
    with lithops.FunctionExecutor(config={"lithops": {"data_limit": False}}, log_level=None) as fexec:
        assert fexec.call_async(len, b"z" * (5 * MIB)).result() == 5 * MIB


def test_default_data_limit_is_4_mib(module_fexec: Any) -> None:
    with pytest.raises(PayloadTooLargeError, match="data_limit"):
        module_fexec.call_async(ident, b"y" * (5 * MIB))


def test_result_over_result_limit_fails_that_future(warm_pool: None) -> None:
    with lithops.FunctionExecutor(config={"lithops": {"result_limit": 1}}, log_level=None) as fexec:
        futures = fexec.map(make_bytes, [10, 2 * MIB, 20])
        results = fexec.get_result(futures, throw_except=False)
        assert results[0] == b"x" * 10 and results[2] == b"x" * 20 and results[1] is None
        assert futures[1].error and not futures[0].error
        with pytest.raises(PayloadTooLargeError, match="result_limit"):
            futures[1].result()


def test_nothing_left_behind_by_rejected_jobs(module_fexec: Any, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    marker.mkdir()
    with pytest.raises(TypeError):
        module_fexec.map(touch_and_return, [(str(marker / "a"),), ("too", "many", "args")])
    module_fexec.map(ident, [1]).get_result()  # a later job runs, the rejected one never did
    assert not os.listdir(marker)


def test_binding_error_shows_a_short_repr(module_fexec: Any) -> None:
    with pytest.raises(TypeError) as info:
        module_fexec.map(two_args, [b"x" * 5_000_000])
    assert len(str(info.value)) < 500


def test_data_limit_true_is_refused(tmp_path: Path) -> None:
    from lithops.errors import ConfigError

    with lithops.FunctionExecutor(config={"lithops": {"data_limit": True}}, log_level=None) as fexec:
        with pytest.raises(ConfigError, match="data_limit is true, which is not a size"):
            fexec.map(ident, [1])


def unpicklable_result() -> Any:
    return {"ok": 1, "lock": threading.Lock()}


def test_unpicklable_result_names_the_part(module_fexec: Any) -> None:
    future = module_fexec.call_async(unpicklable_result, ())
    with pytest.raises(SerializationError, match=r"result of call 00000: result\['lock'\] is a _thread\.lock"):
        future.result()


def megabyte(i: int) -> bytes:
    return b"x" * (1024 * 1024)


def total_size(results: list[bytes]) -> int:
    return sum(len(r) for r in results)


def test_reducer_input_is_not_held_to_data_limit(module_fexec: Any) -> None:
    # five 1 MiB results reach the reducer: 5 MiB, over the default 4 MiB data_limit for inputs
    assert module_fexec.map_reduce(megabyte, range(5), total_size).get_result() == 5 * 1024 * 1024
