"""Turning functions, call data and results into bytes, with errors that name the object that failed."""

from __future__ import annotations

import inspect
import pickle
import sys
import sysconfig
import types
from collections.abc import Iterable
from typing import Any

import cloudpickle

from lithops.errors import SerializationError

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_STDLIB_PATHS = tuple(
    p for p in {sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("platstdlib")} if p
)


def dumps(obj: Any) -> bytes:
    """Serialize ``obj``: plain pickle when the result is portable, cloudpickle otherwise."""
    try:
        data = pickle.dumps(obj, protocol=_PROTOCOL)
        if b"__main__" not in data:
            return data
    except Exception:
        pass
    return cloudpickle.dumps(obj, protocol=_PROTOCOL)


def dump_result(value: Any, call_id: str) -> bytes:
    """Serialize a call's return value; a failure names the part of it that cannot be serialized."""
    try:
        return dumps(value)
    except Exception:
        raise _describe_failure(f"the result of call {call_id}", value, "result") from None


def loads(data: bytes) -> Any:
    """Inverse of :func:`dumps`."""
    return pickle.loads(data)


def _children(obj: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield f"[{k!r}]", v
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            yield f"[{i}]", v
    elif isinstance(obj, types.FunctionType):
        closure = obj.__closure__ or ()
        for name, cell in zip(obj.__code__.co_freevars, closure, strict=False):
            try:
                yield f" (closure variable {name!r})", cell.cell_contents
            except ValueError:
                continue
        for name in obj.__code__.co_names:
            if name in obj.__globals__:
                yield f" (global {name!r})", obj.__globals__[name]
    elif hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)):
        for k, v in vars(obj).items():
            yield f".{k}", v


def find_unpicklable(obj: Any, path: str, depth: int = 0) -> tuple[str, Any, Exception] | None:
    """Return ``(path, object, error)`` for the innermost part of ``obj`` that cannot be serialized."""
    try:
        cloudpickle.dumps(obj, protocol=_PROTOCOL)
        return None
    except Exception as exc:
        if depth < 6:
            for suffix, child in _children(obj):
                found = find_unpicklable(child, path + suffix, depth + 1)
                if found is not None:
                    return found
        return path, obj, exc


def _describe_failure(what: str, obj: Any, path: str) -> SerializationError:
    found = find_unpicklable(obj, path)
    if found is None:  # pragma: no cover - the object pickled fine on the second try
        return SerializationError(f"cannot serialize {what}.")
    where, bad, exc = found
    return SerializationError(
        f"cannot serialize {what}: {where} is a {type(bad).__module__}.{type(bad).__qualname__} "
        f"({type(exc).__name__}: {exc}). Pass something picklable instead (for connections, clients and locks, "
        f"create them inside the function)."
    )


def _is_user_module(module: types.ModuleType) -> bool:
    filename = getattr(module, "__file__", None)
    if not filename or module.__name__ in sys.builtin_module_names:
        return False
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    return not filename.startswith(_STDLIB_PATHS)


def modules_to_ship(
    func: Any, include_modules: list[str] | None, exclude_modules: list[str] | None
) -> list[types.ModuleType]:
    """User modules to serialize by value with ``func`` for workers that cannot import them.

    ``include_modules=None`` ships nothing; an empty list detects the function's own module and the user
    modules it refers to (not the standard library or installed packages); a non-empty list ships exactly those.
    """
    if include_modules is None:
        return []
    if include_modules:
        return [sys.modules[name] for name in include_modules if name in sys.modules]
    excluded = set(exclude_modules or [])
    found: dict[str, types.ModuleType] = {}
    module = inspect.getmodule(func)
    candidates = [module] if module is not None else []
    for value in getattr(func, "__globals__", {}).values():
        if isinstance(value, types.ModuleType):
            candidates.append(value)
        elif isinstance(value, (types.FunctionType, type)):
            mod = sys.modules.get(getattr(value, "__module__", "") or "")
            if mod is not None:
                candidates.append(mod)
    for mod in candidates:
        if mod.__name__ == "__main__" or mod.__name__.split(".")[0] in excluded or mod.__name__ in excluded:
            continue
        if _is_user_module(mod):
            found[mod.__name__] = mod
    return list(found.values())


def serialize_function(func: Any, modules: list[types.ModuleType]) -> bytes:
    """Serialize ``func``, with ``modules`` serialized by value rather than by import name."""
    registered = []
    try:
        for mod in modules:
            try:
                cloudpickle.register_pickle_by_value(mod)
                registered.append(mod)
            except ValueError:
                continue
        return cloudpickle.dumps(func, protocol=_PROTOCOL)
    except Exception:
        name = getattr(func, "__qualname__", repr(func))
        raise _describe_failure(f"the function {name!r}", func, name) from None
    finally:
        for mod in registered:
            cloudpickle.unregister_pickle_by_value(mod)


def serialize_call_data(
    items: list[Any], label: str = "iterdata", inputs: list[Any] | None = None, extra_args: Any = None
) -> list[bytes]:
    """Serialize each call's input; a failure names the call and the part of its input that failed.

    ``inputs`` (the user's elements, before binding) and ``extra_args`` let the message point into what the user
    passed (``iterdata[3]['conn']``) rather than into the bound ``(args, kwargs)`` of ``items``.
    """
    out = []
    for i, item in enumerate(items):
        try:
            out.append(dumps(item))
        except Exception:
            what = f"the input of call {i}"
            if inputs is not None and find_unpicklable(inputs[i], "") is not None:
                raise _describe_failure(what, inputs[i], f"{label}[{i}]") from None
            if extra_args is not None and find_unpicklable(extra_args, "") is not None:
                raise _describe_failure(what, extra_args, "extra_args") from None
            raise _describe_failure(what, item, f"{label}[{i}]") from None
    return out
