"""Binding a job's calls to its function: the signature is prepared once per job, plain positional inputs skip
``inspect``'s binding, and every input still binds (or fails) as the signature says.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from lithops.job import serialize
from lithops.job.builder import build_calls


def bound(func: Any, iterdata: list[Any], extra_args: Any = None) -> list[Any]:
    data, _ = build_calls(func, iterdata, extra_args, None)
    return [serialize.loads(d) for d in data]


def test_the_signature_is_prepared_once_per_job(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = {"replace": 0, "bind": 0}
    replace, bind = inspect.Signature.replace, inspect.Signature.bind

    def counted_replace(self: inspect.Signature, **kwargs: Any) -> inspect.Signature:
        counts["replace"] += 1
        return replace(self, **kwargs)

    def counted_bind(self: inspect.Signature, *args: Any, **kwargs: Any) -> inspect.BoundArguments:
        counts["bind"] += 1
        return bind(self, *args, **kwargs)

    monkeypatch.setattr(inspect.Signature, "replace", counted_replace)
    monkeypatch.setattr(inspect.Signature, "bind", counted_bind)

    def one(x: Any, *, scale: int = 1) -> Any:
        return x

    assert bound(one, list(range(1000)))[-1] == ((), {"x": 999})
    assert counts == {"replace": 1, "bind": 0}

    def varargs(*values: Any) -> Any:
        return values

    assert bound(varargs, [(i, i) for i in range(100)])[-1] == ((99, 99), {})
    assert counts == {"replace": 2, "bind": 100}  # inspect binds these; still one signature


def test_plain_positional_inputs_become_keywords_as_bound() -> None:
    def f(x: Any, y: int = 2, *, z: int = 3) -> Any:
        return x

    assert bound(f, [1, (1, 5), {"x": 1, "z": 4}]) == [((), {"x": 1}), ((), {"x": 1, "y": 5}),
                                                       ((), {"x": 1, "z": 4})]
    assert bound(f, [1], (7,)) == [((), {"x": 1, "y": 7})]

    def injected(x: Any, id: int) -> Any:
        return x

    assert bound(injected, [5, (6,)]) == [((), {"x": 5}), ((), {"x": 6})]


@pytest.mark.parametrize(("item", "message"), [
    ((1, 2, 3), "too many positional arguments"),
    ((), "missing a required argument: 'x'"),
])
def test_plain_functions_still_refuse_inputs_that_do_not_bind(item: Any, message: str) -> None:
    def f(x: Any, y: int = 2) -> Any:
        return x

    with pytest.raises(TypeError, match=rf"call 1 of .*f\(\) cannot be made with input .*: {message}"):
        bound(f, [1, item])


def test_a_required_keyword_only_parameter_is_still_required() -> None:
    def f(x: Any, *, k: int) -> Any:
        return x

    with pytest.raises(TypeError, match=r"call 0 of .*missing a required argument: 'k'"):
        bound(f, [1])
    assert bound(f, [{"x": 1, "k": 2}]) == [((), {"x": 1, "k": 2})]
