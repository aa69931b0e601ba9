"""The public API surface of the documented modules: module -> public names -> signatures.

``python tests/api_surface.py --update`` records it in ``tests/data/api_surface.json``;
``tests/test_api_surface.py`` fails when the code no longer matches the record, so that a public name or
signature only changes on purpose (re-record it, and say so in the commit, when the change is intended).

Documented modules (``MODULES``): the ones Lithops 3.x user code imports and that docs/ describes. Public names:
the documented ones (``DOCUMENTED``) for modules that also hold internal helpers, else ``__all__`` when the
module has one, else the names without a leading underscore that the module defines itself (functions, classes,
and plain constants). For each public class of the module that defines it, its bases and
the public methods, properties and class attributes it defines. Signatures are recorded without annotations
(parameter names, kinds and defaults), so that typing refinements do not count as API changes.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import types
from pathlib import Path
from typing import Any

MODULES = [
    "lithops",
    "lithops.executors",
    "lithops.futures",
    "lithops.future",
    "lithops.wait",
    "lithops.retries",
    "lithops.errors",
    "lithops.storage",
    "lithops.storage.cloud_proxy",
    "lithops.storage.utils",
    "lithops.multiprocessing",
    "lithops.utils",
    "lithops.config",
    "lithops.constants",
    "lithops.version",
    "lithops.concurrent.futures",
    "lithops.util.joblib",
]
#: The documented names of modules that have no ``__all__`` and also hold internal helpers: only these count, so
#: that refactoring the helpers does not trip the check.
DOCUMENTED = {
    "lithops.executors": ["FunctionExecutor", "LocalhostExecutor", "ServerlessExecutor", "StandaloneExecutor"],
    "lithops.futures": ["FuturesList", "ResponseFuture"],
    "lithops.wait": ["ALL_COMPLETED", "ALWAYS", "ANY_COMPLETED", "THREADPOOL_SIZE", "WAIT_DUR_SEC", "get_result",
                     "wait"],
    "lithops.retries": ["RetryingFunctionExecutor", "RetryingFuture"],
    "lithops.storage.utils": ["CloudObject", "CloudObjectLocal", "CloudObjectUrl", "StorageNoSuchBucketError",
                              "StorageNoSuchKeyError"],
    "lithops.config": ["default_config", "extract_storage_config", "load_config", "load_yaml_config"],
}
RECORD = Path(__file__).parent / "data" / "api_surface.json"
_PLAIN = (str, int, float, bool, tuple, frozenset, type(None))


def _signature(obj: Any) -> str | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def _describe(value: Any) -> str:
    if isinstance(value, type):
        return "class" + (_signature(value) or "")
    if callable(value):
        return "function" + (_signature(value) or "(...)")
    return type(value).__name__


def _public_names(module: types.ModuleType) -> list[str]:
    if module.__name__ in DOCUMENTED:
        return DOCUMENTED[module.__name__]
    if hasattr(module, "__all__"):
        return sorted(module.__all__)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") and name != "__version__":
            continue
        if isinstance(value, types.ModuleType):
            continue
        if callable(value) or isinstance(value, type):
            if getattr(value, "__module__", None) != module.__name__:
                continue  # imported from elsewhere
        elif not isinstance(value, (*_PLAIN, dict, list)) or name == "logger":
            continue
        names.append(name)
    return sorted(names)


def _members(cls: type) -> dict[str, str]:
    """The public members a class defines itself (inherited ones are recorded on the class that defines them),
    and its bases."""
    out = {"__bases__": ", ".join(f"{b.__module__}.{b.__qualname__}" for b in cls.__bases__)}
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = getattr(cls, name)
        out[name] = "property" if isinstance(value, property) else _describe(value)
    return out


def surface() -> dict[str, Any]:
    """The current surface: ``{module: {name: description, "Class.member": description}}``."""
    out: dict[str, Any] = {}
    for modname in MODULES:
        module = importlib.import_module(modname)
        entries: dict[str, str] = {}
        for name in _public_names(module):
            value = getattr(module, name)
            entries[name] = "property" if isinstance(value, property) else _describe(value)
            if isinstance(value, type) and value.__module__ == modname:
                for member, desc in _members(value).items():
                    entries[f"{name}.{member}"] = desc
        out[modname] = entries
    return out


def main() -> None:
    """Print the differences with the record, or re-record it with ``--update``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help=f"write the current surface to {RECORD}")
    args = parser.parse_args()
    current = surface()
    if args.update:
        RECORD.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"recorded {sum(len(v) for v in current.values())} entries of {len(current)} modules in {RECORD}")
        return
    recorded = json.loads(RECORD.read_text())
    changes = diff(recorded, current)
    print("\n".join(changes) or "no changes")
    sys.exit(1 if changes else 0)


def diff(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable differences between two surfaces."""
    out = []
    for modname in sorted(set(recorded) | set(current)):
        old, new = recorded.get(modname, {}), current.get(modname, {})
        for name in sorted(set(old) | set(new)):
            if name not in new:
                out.append(f"removed: {modname}.{name}  (was {old[name]})")
            elif name not in old:
                out.append(f"added:   {modname}.{name}  {new[name]}")
            elif old[name] != new[name]:
                out.append(f"changed: {modname}.{name}  {old[name]}  ->  {new[name]}")
    return out


if __name__ == "__main__":
    main()
