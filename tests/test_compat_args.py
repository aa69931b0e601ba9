"""Dict inputs spread into ``*args`` / ``**kwargs`` parameters as in Lithops 3.x, directly or through a wrapper."""

from __future__ import annotations

import functools
from typing import Any

import pytest


def base(a: int, b: int, d: int = 0, e: int = 0) -> tuple[int, int, int, int]:
    return (a, b, d, e)


def plain_decorator(fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def wraps_decorator(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


decorated = plain_decorator(base)
decorated_wraps = wraps_decorator(base)


def variadic(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def leading(a: int, *args: Any, d: int = 1) -> tuple[int, tuple[Any, ...], int]:
    return a, args, d


def only_kwargs(**kwargs: Any) -> dict[str, Any]:
    return kwargs


@pytest.mark.parametrize(
    ("func", "item", "expected"),
    [
        (decorated, {"args": (1, 2), "d": 3}, (1, 2, 3, 0)),
        (decorated, {"args": (1, 2), "kwargs": {"d": 3, "e": 6}}, (1, 2, 3, 6)),
        (decorated, {"args": [1, 2], "kwargs": {"d": 3}, "e": 6}, (1, 2, 3, 6)),
        (decorated, {"args": (1, 2), "kwargs": {"d": 3}, "d": 4}, (1, 2, 4, 0)),  # plain keys win, as in Lithops
        (decorated, {"args": None, "a": 1, "b": 2}, (1, 2, 0, 0)),
        (decorated, {"a": 1, "b": 2}, (1, 2, 0, 0)),
        (decorated, (1, 2, 3), (1, 2, 3, 0)),
        (decorated_wraps, {"args": (1, 2), "d": 3}, (1, 2, 3, 0)),
        (decorated_wraps, {"a": 1, "b": 2}, (1, 2, 0, 0)),
        (variadic, {"args": (1, 2), "kwargs": {"x": 1}, "y": 2}, ((1, 2), {"x": 1, "y": 2})),
        (variadic, {"kwargs": {"x": 1}}, ((), {"x": 1})),
        (variadic, (1, 2), ((1, 2), {})),
        (leading, {"a": 1, "args": (2, 3), "d": 4}, (1, (2, 3), 4)),
        (only_kwargs, {"kwargs": {"x": 1}, "y": 2}, {"x": 1, "y": 2}),
    ],
)
def test_dict_inputs_spread_into_variadic_parameters(module_fexec: Any, func: Any, item: Any, expected: Any) -> None:
    assert module_fexec.call_async(func, item).result() == expected
    assert module_fexec.map(func, [item]).get_result() == [expected]


def test_spread_applies_to_extra_args_too(module_fexec: Any) -> None:
    futures = module_fexec.map(decorated, [{"args": (1, 2)}], extra_args={"kwargs": {"e": 5}})
    assert module_fexec.get_result(futures) == [(1, 2, 0, 5)]


@pytest.mark.parametrize(
    ("item", "message"),
    [({"args": 5}, "'args' .* tuple or list"), ({"kwargs": [1]}, "'kwargs' .* dict")],
)
def test_spread_values_of_the_wrong_type_fail_at_submit(module_fexec: Any, item: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        module_fexec.call_async(variadic, item)
