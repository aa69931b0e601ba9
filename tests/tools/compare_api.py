"""Side-by-side API comparison with a reference Lithops install (not part of the test run).

Usage::

    python tests/tools/compare_api.py --reference /path/to/venv-with-lithops-3.8/bin/python [--here python] [-v]

It introspects the documented modules and the main user classes in both interpreters and prints three counts:
public names of the reference's documented modules that resolve here, members of the main user classes present
here, and parameters of the reference's functions and methods that the same callable here does not accept; and
the public instance attributes of real objects made on the localhost backend (an executor, its futures, a
Storage ...) that exist here as attributes or class members.

Public names of a module: its ``__all__`` when it has one; for the modules that are mostly internal helpers
(``lithops.utils``, ``lithops.config``, ``lithops.constants``, ``lithops.storage.utils``) the names that Lithops's
own docs and examples use (``CURATED`` below); otherwise every top-level name without a leading underscore that
the module itself defines (imports of other modules' names are not counted). Members of a class: the names on the
class without a leading underscore (methods, properties, class attributes), excluding what ``object`` and
builtin bases (``list``) provide.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

MODULES = [
    "lithops",
    "lithops.executors",
    "lithops.future",
    "lithops.wait",
    "lithops.retries",
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

# Modules that are mostly internal helpers in Lithops 3.8: only what its docs and examples import counts.
CURATED = {
    "lithops.utils": ["setup_lithops_logger", "FuturesList", "is_lithops_worker", "sizeof_fmt", "uuid_str",
                      "is_unix_system", "version_str", "iterchunks", "CURRENT_PY_VERSION"],
    "lithops.config": ["load_config", "default_config", "extract_storage_config", "load_yaml_config"],
    "lithops.constants": ["LOCALHOST", "SERVERLESS", "STANDALONE", "MODE_DEFAULT", "JOBS_PREFIX", "LITHOPS_TEMP_DIR",
                          "TEMP_DIR", "CONFIG_FILE", "CONFIG_DIR", "CACHE_DIR", "CONFIG_FILE_GLOBAL", "LOGGER_LEVEL",
                          "LOGGER_FORMAT", "LOGGER_FORMAT_SHORT", "LOGGER_STREAM", "CPU_COUNT", "WORKER_ENV",
                          "SERVERLESS_BACKEND_DEFAULT", "STANDALONE_BACKEND_DEFAULT", "STORAGE_BACKEND_DEFAULT"],
    "lithops.storage.utils": ["CloudObject", "CloudObjectUrl", "CloudObjectLocal", "StorageNoSuchKeyError"],
}

# Where the reference has the main user classes (looked up at the same path here, then at FALLBACK's)
CLASSES = {
    "FunctionExecutor": "lithops.executors.FunctionExecutor",
    "RetryingFunctionExecutor": "lithops.retries.RetryingFunctionExecutor",
    "ResponseFuture": "lithops.future.ResponseFuture",
    "FuturesList": "lithops.utils.FuturesList",
    "RetryingFuture": "lithops.retries.RetryingFuture",
    "Storage": "lithops.storage.Storage",
    "CloudStorage": "lithops.storage.cloud_proxy.CloudStorage",
    "CloudFileProxy": "lithops.storage.cloud_proxy.CloudFileProxy",
    "Pool": "lithops.multiprocessing.Pool",
    "concurrent.FunctionExecutor": "lithops.concurrent.futures.FunctionExecutor",
}
# Where this project had a class before it was also reachable at the reference's path, so that its members are
# compared even when the module name differs (the missing module already counts among the names).
FALLBACK = {"ResponseFuture": "lithops.futures.ResponseFuture", "FuturesList": "lithops.futures.FuturesList"}


def _signature(obj: Any) -> list[list[str]] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [[p.name, p.kind.name] for p in sig.parameters.values() if p.name not in ("self", "cls")]


def _own_names(mod: Any) -> list[str]:
    """Top-level names the module defines itself (from its source), without a leading underscore."""
    try:
        tree = ast.parse(Path(inspect.getsourcefile(mod) or "").read_text())
    except (OSError, TypeError):
        return sorted(n for n in vars(mod) if not n.startswith("_"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return sorted(n for n in names if (not n.startswith("_") or n == "__version__") and n != "logger")


def _resolve(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _members(cls: Any) -> dict[str, Any]:
    builtin = set()
    for base in cls.__mro__:
        if base.__module__ == "builtins":
            builtin.update(dir(base))
    out = {}
    for name in dir(cls):
        if name.startswith("_") or name in builtin:
            continue
        out[name] = _signature(getattr(cls, name)) if callable(getattr(cls, name, None)) else None
    return out


def _instances() -> dict[str, list[str]]:
    """Public instance attributes (``vars``) of real objects made on the localhost backend."""
    import lithops
    from lithops.retries import RetryingFunctionExecutor
    from lithops.storage.cloud_proxy import CloudStorage

    def negate(x: int) -> int:
        return -x

    out: dict[str, list[str]] = {}
    fexec = lithops.FunctionExecutor(backend="localhost", log_level=None)
    try:
        future = fexec.call_async(negate, 1)
        future.result()
        futures = fexec.map(negate, [1, 2])
        fexec.get_result(futures)
        rexec = RetryingFunctionExecutor(fexec)
        rfutures = rexec.map(negate, [3])
        rexec.wait(rfutures)
        objects = {"FunctionExecutor": fexec, "ResponseFuture": future, "FuturesList": futures,
                   "RetryingFunctionExecutor": rexec, "RetryingFuture": rfutures[0],
                   "Storage": lithops.Storage(), "CloudStorage": CloudStorage()}
        for label, obj in objects.items():
            out[label] = sorted(n for n in vars(obj) if not n.startswith("_"))
    finally:
        fexec.__exit__(None, None, None)
    return out


def dump(reference: dict[str, Any] | None) -> dict[str, Any]:
    """The surface of the running interpreter; names to look up come from ``reference`` when given."""
    out: dict[str, Any] = {"modules": {}, "classes": {}}
    for modname in MODULES:
        try:
            mod = importlib.import_module(modname)
        except Exception as exc:
            out["modules"][modname] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        if reference is not None:
            wanted = list(reference["modules"].get(modname, {}).get("names", {}))
        elif modname in CURATED:
            wanted = CURATED[modname]
        elif hasattr(mod, "__all__"):
            wanted = list(mod.__all__)
        else:
            wanted = _own_names(mod)
        names = {}
        for name in wanted:
            try:
                value = getattr(mod, name)
            except Exception:
                continue
            names[name] = _signature(value) if callable(value) else None
        out["modules"][modname] = {"names": names}
    try:
        out["instances"] = _instances()
    except Exception as exc:
        out["instances"] = {"__error__": [f"{type(exc).__name__}: {exc}"]}
    for label, path in CLASSES.items():
        try:
            cls = _resolve(path)
        except Exception as exc:
            try:
                cls = _resolve(FALLBACK[label])
            except Exception:
                out["classes"][label] = {"__error__": f"{type(exc).__name__}: {exc}"}
                continue
        out["classes"][label] = _members(cls)
    return out


def _missing_params(ref_sig: list[list[str]] | None, here_sig: list[list[str]] | None) -> list[str]:
    if not ref_sig or here_sig is None:
        return []
    names = {n for n, _ in here_sig}
    has_var_kw = any(k == "VAR_KEYWORD" for _, k in here_sig)
    missing = []
    for name, kind in ref_sig:
        if name in names:
            continue
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            continue
        if kind in ("KEYWORD_ONLY", "POSITIONAL_OR_KEYWORD") and has_var_kw:
            continue
        missing.append(name)
    return missing


def _run(python: str, reference: dict[str, Any] | None, pythonpath: str | None = None,
         config_file: str | None = None) -> dict[str, Any]:
    cmd = [python, __file__, "--dump"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    if config_file:
        env["LITHOPS_CONFIG_FILE"] = config_file
    proc = subprocess.run(cmd, input=json.dumps(reference), capture_output=True, text=True, timeout=300,
                          check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{python} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(ref: dict[str, Any], here: dict[str, Any], verbose: bool) -> None:
    """Print the three counts and, with ``verbose``, what is missing."""
    total = present = 0
    params_missing: list[str] = []
    missing_names: list[str] = []
    for modname, info in ref["modules"].items():
        ref_names = info.get("names", {})
        here_names = here["modules"].get(modname, {}).get("names", {})
        for name, sig in ref_names.items():
            total += 1
            if name in here_names:
                present += 1
                params_missing += [f"{modname}.{name}({p})" for p in _missing_params(sig, here_names[name])]
            else:
                missing_names.append(f"{modname}.{name}")
    mtotal = mpresent = 0
    missing_members: list[str] = []
    for label, members in ref["classes"].items():
        here_members = here["classes"].get(label, {})
        for name, sig in members.items():
            if name == "__error__":
                continue
            mtotal += 1
            if name in here_members:
                mpresent += 1
                params_missing += [f"{label}.{name}({p})" for p in _missing_params(sig, here_members[name])]
            else:
                missing_members.append(f"{label}.{name}")
    itotal = ipresent = 0
    missing_attrs: list[str] = []
    for label, attrs in ref.get("instances", {}).items():
        if label == "__error__":
            print(f"reference objects could not be made: {attrs}")
            continue
        here_attrs = set(here.get("instances", {}).get(label, []))
        here_members = set(here["classes"].get(label, {}))
        for name in attrs:
            itotal += 1
            if name in here_attrs or name in here_members:
                ipresent += 1
            else:
                missing_attrs.append(f"{label}.{name}")
    print(f"public names of the documented modules present: {present} of {total}")
    print(f"members of the main user classes present: {mpresent} of {mtotal}")
    print(f"parameters missing: {len(params_missing)}")
    print(f"instance attributes of real objects (localhost) present, as attributes or members: {ipresent} of "
          f"{itotal}")
    if verbose:
        for title, items in (("missing names", missing_names), ("missing members", missing_members),
                             ("missing parameters", params_missing), ("missing instance attributes", missing_attrs)):
            print(f"\n{title}:")
            for item in items:
                print(f"  {item}")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", help="python of an environment with the reference Lithops installed")
    parser.add_argument("--here", default=sys.executable, help="python of this project's environment")
    parser.add_argument("--here-path", help="PYTHONPATH for this project's side (e.g. the src folders of an older "
                        "checkout); the reference side never inherits PYTHONPATH")
    parser.add_argument("--reference-config", help="LITHOPS_CONFIG_FILE for the reference side (e.g. one whose "
                        "localhost runtime is that environment's python)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list what is missing")
    parser.add_argument("--dump", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        import logging

        logging.disable(logging.CRITICAL)
        reference = json.loads(sys.stdin.read() or "null")
        print(json.dumps(dump(reference)))
        return
    if not args.reference:
        parser.error("--reference is required")
    ref = _run(args.reference, None, config_file=args.reference_config)
    here = _run(args.here, ref, args.here_path)
    compare(ref, here, args.verbose)


if __name__ == "__main__":
    main()
