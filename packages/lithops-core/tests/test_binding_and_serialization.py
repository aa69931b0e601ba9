"""Call arguments are bound at submit time; serialization failures name the culprit."""

import inspect
import threading

import pytest

from lithops.errors import PayloadTooLargeError, SerializationError
from lithops.job import serialize
from lithops.job.builder import bind_arguments, build_calls, injected_params


def _bind(func, args=(), kwargs=None):
    inject = injected_params(func)
    return bind_arguments(inspect.signature(func), tuple(args), dict(kwargs or {}), inject)


def test_positional_args_become_keywords_so_injection_cannot_collide():
    def f(id, x):
        return x

    assert _bind(f, (5,)) == ((), {"x": 5})


def test_varargs_keep_positions():
    def f(a, *rest, **kw):
        return a

    assert _bind(f, (1, 2, 3), {"k": 4}) == ((1, 2, 3), {"k": 4})


def test_positional_only():
    def f(a, /, b):
        return a

    assert _bind(f, (1, 2)) == ((1,), {"b": 2})


def test_a_call_that_cannot_bind_fails_at_submit():
    def f(x, y):
        return x

    with pytest.raises(TypeError, match=r"call 1 of .*f\(\) cannot be made with input \(1,\)"):
        build_calls(f, [(1, 2), (1,)], None, 4)


def test_extra_args_append_and_merge():
    def f(x, y, z=0):
        return x

    data, _ = build_calls(f, [(1,), 2], (5,), 4)
    assert [serialize.loads(d) for d in data] == [((), {"x": 1, "y": 5}), ((), {"x": 2, "y": 5})]
    data, _ = build_calls(f, [{"x": 2, "y": 3}], {"z": 9}, 4)
    assert serialize.loads(data[0]) == ((), {"x": 2, "y": 3, "z": 9})


def test_oversized_input_names_the_call_and_the_setting():
    def f(x):
        return x

    with pytest.raises(PayloadTooLargeError, match=r"input of call 1 is 2\.0 MiB, over lithops\.data_limit of 1"):
        build_calls(f, [b"", b"x" * (2 * 1024 * 1024)], None, 1)
    build_calls(f, [b"x" * (2 * 1024 * 1024)], None, False)  # false disables the limit


def test_unpicklable_argument_is_named():
    lock = threading.Lock()
    with pytest.raises(SerializationError, match=r"iterdata\[2\]\['conn'\] is a _thread\.lock"):
        serialize.serialize_call_data([1, 2, {"ok": 1, "conn": lock}])


def test_unpicklable_closure_is_named():
    lock = threading.Lock()

    def uses_lock():
        with lock:
            return 1

    with pytest.raises(SerializationError, match=r"closure variable 'lock'.*_thread\.lock"):
        serialize.serialize_function(uses_lock, [])
