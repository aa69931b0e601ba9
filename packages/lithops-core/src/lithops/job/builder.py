"""Builds a :class:`JobRequest` from what the user passed to ``call_async``/``map``.

Argument binding follows Lithops: each element of the iterdata is one call; a tuple is the positional
arguments, a dict the keyword arguments, anything else the single argument. ``extra_args`` are added to every
call (a dict merges into keyword arguments, a tuple/list extends positional ones). A dict's keys named like the
function's ``*args`` / ``**kwargs`` parameters are spread into them (:func:`spread_variadic`). The arguments are
bound to the function's signature here, so a call that could never run fails at submit, before anything runs.
"""

from __future__ import annotations

import inspect
import reprlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lithops.errors import ConfigError, PayloadTooLargeError
from lithops.job import serialize
from lithops.job.job import JobRequest

#: Parameters that Lithops fills in when the function declares them.
INJECTABLE = ("id", "storage")
MIB = 1024 * 1024


def _as_call(item: Any, extra_args: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(item, tuple):
        args, kwargs = item, {}
    elif isinstance(item, dict):
        args, kwargs = (), dict(item)
    else:
        args, kwargs = (item,), {}
    if extra_args is not None:
        if isinstance(extra_args, dict):
            kwargs.update(extra_args)
        elif isinstance(extra_args, (tuple, list)):
            args = tuple(args) + tuple(extra_args)
        else:
            args = (*args, extra_args)
    return tuple(args), kwargs


def _signature(func: Any, follow_wrapped: bool = True) -> inspect.Signature | None:
    try:
        return inspect.signature(func, follow_wrapped=follow_wrapped)
    except (TypeError, ValueError):
        return None


def spread_variadic(
    func: Any, sig: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Lithops's convention for dict inputs to functions with ``*args`` / ``**kwargs`` (their own, or a
    decorator's wrapper's): the key named like the ``*args`` parameter holds the positional arguments, the key
    named like the ``**kwargs`` parameter a dict of keyword arguments, and the other keys are keyword arguments
    too (they win over the same names in that dict). Parameters before ``*args`` given by name are passed
    first, positionally. Calls with positional arguments, and functions without such parameters, are left as
    they are.
    """
    if args or sig is None or not kwargs:
        return args, kwargs
    outer = _signature(func, follow_wrapped=False) or sig  # a wrapper's own (*args, **kwargs)
    var_pos = var_kw = None
    for p in outer.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            var_pos = p.name
        elif p.kind is p.VAR_KEYWORD:
            var_kw = p.name
    named = {p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    spread_args = var_pos is not None and var_pos in kwargs and var_pos not in named
    spread_kwargs = var_kw is not None and var_kw in kwargs and var_kw not in named
    if not (spread_args or spread_kwargs):
        return args, kwargs
    kwargs = dict(kwargs)
    positional: list[Any] = []
    if spread_args:
        values = kwargs.pop(var_pos) or ()  # type: ignore[arg-type]
        if not isinstance(values, (tuple, list)):
            raise TypeError(
                f"the {var_pos!r} key of a dict input holds the function's *{var_pos} and must be a tuple or "
                f"list, got {type(values).__name__}"
            )
        for p in sig.parameters.values():
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.name not in kwargs:
                break
            positional.append(kwargs.pop(p.name))
        positional.extend(values)
    if spread_kwargs:
        extra = kwargs.pop(var_kw) or {}  # type: ignore[arg-type]
        if not isinstance(extra, Mapping):
            raise TypeError(
                f"the {var_kw!r} key of a dict input holds the function's **{var_kw} and must be a dict, got "
                f"{type(extra).__name__}"
            )
        kwargs = {**extra, **kwargs}
    return tuple(positional), kwargs


def function_name(func: Any) -> str:
    """The name of a user function as jobs and futures show it (its qualified name)."""
    return str(getattr(func, "__qualname__", None) or repr(func))


def injected_params(func: Any) -> list[str]:
    """The injectable parameters (``id``, ``storage``) that ``func`` declares."""
    sig = _signature(func)
    if sig is None:
        return []
    return [name for name in INJECTABLE if name in sig.parameters]


class _Binding:
    """A signature without the injected parameters a call leaves to the worker, ready to bind calls to (made once
    per job and set of such parameters: building a signature costs more than binding to it).
    """

    def __init__(self, sig: inspect.Signature, skip: Iterable[str]) -> None:
        self.params = [p for p in sig.parameters.values() if p.name not in skip]
        self.sig = sig.replace(parameters=self.params)
        # Positional arguments to a function of plain parameters (keyword-only ones with defaults aside) need no
        # binding: they become keywords, in order.
        self.plain = all(p.kind is p.POSITIONAL_OR_KEYWORD or (p.kind is p.KEYWORD_ONLY and p.default is not p.empty)
                         for p in self.params)
        self.names = [p.name for p in self.params if p.kind is p.POSITIONAL_OR_KEYWORD]
        self.required = sum(1 for p in self.params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.plain and not kwargs and self.required <= len(args) <= len(self.names):
            return (), dict(zip(self.names, args, strict=False))  # the names of the arguments given
        bound = self.sig.bind(*args, **kwargs)
        has_varargs = any(
            p.kind is p.VAR_POSITIONAL and bound.arguments.get(p.name) for p in self.params
        )
        out_args: list[Any] = []
        out_kwargs: dict[str, Any] = {}
        for p in self.params:
            if p.name not in bound.arguments:
                continue
            value = bound.arguments[p.name]
            if p.kind is p.POSITIONAL_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and has_varargs):
                out_args.append(value)
            elif p.kind is p.VAR_POSITIONAL:
                out_args.extend(value)
            elif p.kind is p.VAR_KEYWORD:
                out_kwargs.update(value)
            else:
                out_kwargs[p.name] = value
        return tuple(out_args), out_kwargs


def _binder(sig: inspect.Signature | None, inject: list[str]) -> Callable[[tuple[Any, ...], dict[str, Any]],
                                                                          tuple[tuple[Any, ...], dict[str, Any]]]:
    """``bind(args, kwargs)`` for the calls of one function, as :func:`bind_arguments` binds them."""
    bindings: dict[tuple[str, ...], _Binding] = {}

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if sig is None:
            return args, kwargs
        skip = tuple(n for n in inject if n not in kwargs)
        binding = bindings.get(skip)
        if binding is None:
            binding = bindings[skip] = _Binding(sig, skip)
        return binding.bind(args, kwargs)

    return bind


def bind_arguments(
    sig: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any], inject: list[str]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Bind a call's arguments to the signature; raise TypeError if the call cannot be made.

    Injected parameters are left out of the binding (the worker passes them by keyword), so the bound
    arguments move to keywords wherever the signature allows it.
    """
    return _binder(sig, inject)(args, kwargs)


def _limit_bytes(value: Any, key: str) -> int | None:
    if value is False or value is None:
        return None
    if value is True:
        raise ConfigError(f"lithops.{key} is true, which is not a size: give a number of MiB, or false for no limit.")
    return int(float(value) * MIB)


def build_calls(func: Any, iterdata: Iterable[Any], extra_args: Any, data_limit: Any) -> tuple[list[bytes], list[str]]:
    """Bind, check and serialize every call's input; return the call data and the injected parameter names."""
    sig = _signature(func)
    inject = injected_params(func)
    name = function_name(func)
    bind = _binder(sig, inject)
    bound = []
    items = list(iterdata)
    for i, item in enumerate(items):
        args, kwargs = _as_call(item, extra_args)
        try:
            args, kwargs = spread_variadic(func, sig, args, kwargs)
            bound.append(bind(args, kwargs))
        except TypeError as exc:
            raise TypeError(
                f"call {i} of {name}() cannot be made with input {reprlib.repr(item)}: {exc}. A tuple is passed "
                f"as positional "
                f"arguments, a dict as keyword arguments, anything else as the one argument."
            ) from None
    data = serialize.serialize_call_data(bound, inputs=items, extra_args=extra_args)
    limit = _limit_bytes(data_limit, "data_limit")
    if limit is not None:
        for i, blob in enumerate(data):
            if len(blob) > limit:
                raise PayloadTooLargeError(
                    f"the input of call {i} is {len(blob) / MIB:.1f} MiB, over lithops.data_limit of "
                    f"{limit / MIB:g} MiB. Put large data in storage and pass its key, or raise data_limit "
                    f"in the config (false disables the check)."
                )
    return data, inject


def create_job(
    *,
    executor_id: str,
    job_id: str,
    func: Any,
    iterdata: Iterable[Any],
    config: dict[str, Any],
    storage_backend: str,
    extra_args: Any = None,
    extra_env: dict[str, str] | None = None,
    chunksize: int | None = None,
    execution_timeout: float | None = None,
    include_modules: list[str] | None = None,
    exclude_modules: list[str] | None = None,
    runtime_memory: int | None = None,
    ships_modules: bool = True,
    check_data_limit: bool = True,
) -> JobRequest:
    """Serialize a function and its calls into a :class:`JobRequest`.

    Raises:
        TypeError: ``func`` is not callable or a call's arguments do not fit its signature.
        SerializationError: the function or an argument cannot be serialized (the message names it).
        PayloadTooLargeError: a call's input is over ``lithops.data_limit`` (unless ``check_data_limit`` is
            False, as for reducers, whose inputs are results already held to ``result_limit``).
    """
    if not callable(func):
        raise TypeError(f"the function to run must be callable, got {type(func).__name__} {func!r}.")
    lithops_cfg = config.get("lithops", {})
    data_limit = lithops_cfg.get("data_limit") if check_data_limit else False
    call_data, inject = build_calls(func, iterdata, extra_args, data_limit)
    if include_modules == [] and not ships_modules:
        include_modules = None  # workers import the user's modules from the same file system
    modules = serialize.modules_to_ship(func, include_modules, exclude_modules)
    function = serialize.serialize_function(func, modules)
    if extra_env is not None and not isinstance(extra_env, dict):
        raise TypeError(f"extra_env must be a dict of environment variables, got {type(extra_env).__name__}.")
    timeout = execution_timeout if execution_timeout is not None else lithops_cfg.get("execution_timeout", 1800)
    return JobRequest(
        executor_id=executor_id,
        job_id=job_id,
        function_name=function_name(func),
        function=function,
        call_data=call_data,
        inject=inject,
        chunksize=chunksize or lithops_cfg.get("chunksize") or 1,
        extra_env={str(k): str(v) for k, v in (extra_env or {}).items()},
        execution_timeout=float(timeout),
        runtime_memory=runtime_memory,
        result_limit=_limit_bytes(lithops_cfg.get("result_limit"), "result_limit"),
        config=config,
        storage_backend=storage_backend,
    )
