"""Exceptions raised in workers come back to the client with their type, message and remote traceback."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import lithops
from lithops.job.status import RemoteError, RemoteTraceback


class CustomError(Exception):
    """An exception class of the user's own module."""


class TwoArgError(Exception):
    """Its __init__ takes two arguments, so the default pickling of exceptions cannot rebuild it."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")
        self.code = code


class HoldsLockError(Exception):
    """Carries an attribute that cannot be pickled."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def raise_key_error(x: Any) -> None:
    raise KeyError(f"missing {x}")


def raise_custom_error_in_helper(x: int) -> int:
    return _helper_that_fails(x)


def _helper_that_fails(x: int) -> int:
    if x == 2:
        raise CustomError(f"custom failure on {x}")
    return x


def raise_two_arg_error(x: int) -> None:
    raise TwoArgError(x, "two args")


def raise_holding_lock(x: int) -> None:
    raise HoldsLockError(f"lock holder {x}")


def divide(x: int) -> float:
    return 1 / x


def test_builtin_exception_type_and_message(module_fexec: Any) -> None:
    fut = module_fexec.call_async(raise_key_error, "thing")
    with pytest.raises(KeyError, match="missing thing") as info:
        fut.result()
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "raise_key_error" in str(cause)
    assert "KeyError" in cause.tb


def test_custom_exception_from_user_module(module_fexec: Any) -> None:
    futures = module_fexec.map(raise_custom_error_in_helper, [1, 2, 3])
    with pytest.raises(CustomError, match="custom failure on 2") as info:
        module_fexec.get_result(futures)
    tb = str(info.value.__cause__)
    assert "raise_custom_error_in_helper" in tb and "_helper_that_fails" in tb
    assert futures[0].result() == 1 and futures[2].result() == 3


def test_exception_via_get_result_and_wait(module_fexec: Any) -> None:
    fut = module_fexec.call_async(divide, 0)
    with pytest.raises(ZeroDivisionError) as info:
        module_fexec.get_result(fut)
    assert "divide" in str(info.value.__cause__)
    with pytest.raises(ZeroDivisionError):
        module_fexec.wait([fut])
    with pytest.raises(ZeroDivisionError):
        lithops.get_result([fut])


def test_result_throw_except_false_returns_none(module_fexec: Any) -> None:
    fut = module_fexec.call_async(divide, 0)
    assert fut.result(throw_except=False) is None
    assert isinstance(fut.exception(), ZeroDivisionError)
    assert lithops.get_result([fut], throw_except=False) == [None]


def test_failed_future_states(module_fexec: Any) -> None:
    ok, bad = module_fexec.map(divide, [1, 0])
    module_fexec.wait([ok, bad], throw_except=False)
    assert bad.error and bad.done and bad.finished and bad.success  # Lithops sets success on failed calls too
    assert not bad.ready and not bad.running
    assert ok.done and ok.finished and not ok.success and not ok.ready and not ok.error
    assert ok.result() == 1.0
    assert ok.done and not ok.ready
    # the error is sticky: reading it again raises again
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            bad.result()
    assert bad.status(throw_except=False) is not None
    assert ok.exception() is None


def test_exception_that_cannot_be_rebuilt_keeps_type_name_and_message(module_fexec: Any) -> None:
    fut = module_fexec.call_async(raise_two_arg_error, 7)
    with pytest.raises(Exception) as info:
        fut.result()
    exc = info.value
    if isinstance(exc, TwoArgError):
        assert exc.code == 7
    else:
        assert isinstance(exc, RemoteError)
        assert "TwoArgError" in str(exc) and "code 7: two args" in str(exc)
    assert "raise_two_arg_error" in str(exc.__cause__)


def test_unpicklable_exception_keeps_type_name_and_message(module_fexec: Any) -> None:
    fut = module_fexec.call_async(raise_holding_lock, 3)
    with pytest.raises(RemoteError, match="HoldsLockError: lock holder 3") as info:
        fut.result()
    assert info.value.type_name == "HoldsLockError"
    assert "raise_holding_lock" in str(info.value.__cause__)


def test_one_failure_does_not_affect_other_calls(module_fexec: Any) -> None:
    data = [1, 2, 0, 4, 0, 5]
    futures = module_fexec.map(divide, data)
    results = module_fexec.get_result(futures, throw_except=False)
    assert results == [1.0, 0.5, None, 0.25, None, 0.2]
    assert [f.error for f in futures] == [x == 0 for x in data]


def exits(code: int) -> None:
    import sys

    sys.exit(code)


def interrupts() -> None:
    raise KeyboardInterrupt("from inside the function")


def test_sys_exit_in_a_function_does_not_end_the_client(fexec: Any) -> None:
    from lithops.job.status import RemoteError

    with pytest.raises(RemoteError, match=r"SystemExit: the function raised SystemExit\(3\)"):
        fexec.call_async(exits, 3).result()
    with pytest.raises(RemoteError, match="KeyboardInterrupt"):
        fexec.call_async(interrupts, ()).result()
    assert fexec.call_async(exits, 0).exception() is not None
