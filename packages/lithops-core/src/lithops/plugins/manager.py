"""Finds backend plugins through entry points and answers "which class serves backend X?".

One registry per process, built on first use (never at ``import lithops``). Each entry point of group
``lithops`` is loaded on its own: a plugin that fails to import or to register is recorded with the reason
and reported only when one of its backends is asked for (and by ``lithops plugins``); the others work.
``LITHOPS_DISABLED_PLUGINS`` (names to skip) and ``LITHOPS_LOAD_PLUGINS`` (the only names to load) take
comma-separated entry point or distribution names, for triage.
"""

from __future__ import annotations

import difflib
import os
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from lithops.errors import (
    BackendNotFoundError,
    BackendNotInstalledError,
    PluginConflictError,
    PluginLoadError,
)
from lithops.plugins import hookspecs
from lithops.plugins.hookspecs import PLUGIN_API, PLUGIN_API_ATTRIBUTE, SUPPORTED_PLUGIN_APIS
from lithops.plugins.known import KNOWN_BACKENDS, providing_package
from lithops.plugins.specs import ComputeBackendSpec, RuntimeBuilderSpec, StorageBackendSpec

ENTRY_POINT_GROUP = "lithops"
_HOOKS = {
    "compute": ("lithops_compute_backends", ComputeBackendSpec),
    "storage": ("lithops_storage_backends", StorageBackendSpec),
    "runtime": ("lithops_runtime_builders", RuntimeBuilderSpec),
}
#: Any of the specs the registration hooks return.
BackendSpec = ComputeBackendSpec | StorageBackendSpec | RuntimeBuilderSpec


@dataclass(frozen=True)
class Registration:
    """A spec together with the distribution that registered it."""

    kind: str
    spec: BackendSpec
    package: str
    version: str


@dataclass
class PluginInfo:
    """One plugin (entry point) as ``lithops plugins`` shows it."""

    name: str
    package: str
    version: str
    backends: list[Registration] = field(default_factory=list)
    error: str | None = None
    #: The plugin API it declares (``LITHOPS_PLUGIN_API``), or None when it declares none.
    api: str | None = None
    #: ``click`` commands it adds to the ``lithops`` command line.
    commands: list[Any] = field(default_factory=list)


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an exception raised by plugin code."""
    return f"{type(exc).__name__}: {exc}"


def _from_clone(package: str) -> str:
    """A second install line for ``package`` when lithops-core runs from a clone of the repository that holds
    it (``packages/<package>`` beside ``packages/lithops-core``), for packages not published yet; else ''.
    """
    core_src = Path(__file__).resolve().parents[3]  # packages/lithops-core in a clone
    folder = core_src.parent / package
    if core_src.name != "lithops-core" or not (folder / "pyproject.toml").is_file():
        return ""
    return f"\n    pip install {folder}   # from the clone at {core_src.parents[1]}"


#: Distribution name of Lithops 3.x, which ships the same import package ``lithops`` as lithops-core.
LITHOPS3_DISTRIBUTION = "lithops"


def _warn_if_lithops3_alongside() -> None:
    """Warn when Lithops 3.x's ``lithops`` distribution is installed in this environment too: the two write
    the same files, so they mix silently and uninstalling either breaks the other.
    """
    try:
        old = metadata.distribution(LITHOPS3_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return
    warnings.warn(
        f"Lithops 3.x (distribution '{LITHOPS3_DISTRIBUTION}' {old.version}) is installed in this environment "
        f"together with lithops-core; both provide the 'lithops' package, so their files are mixed and "
        f"uninstalling either breaks the other. Use a fresh virtual environment for lithops-core (python3 -m "
        f"venv .venv), or remove both and reinstall lithops-core: pip uninstall -y lithops lithops-core, then "
        f"pip install lithops-core (from a clone: pip install ./packages/lithops-core).",
        UserWarning,
        stacklevel=3,
    )


def _plugin_api(module: object, package: str, version: str) -> tuple[str | None, str | None]:
    """The plugin API a plugin module declares, and why it is refused (None when it is loaded).

    A module that declares none is loaded as written for API 1; ``lithops plugins`` points it out.
    """
    declared = getattr(module, PLUGIN_API_ATTRIBUTE, None)
    if declared is None:  # shown by 'lithops plugins' and failed by PluginContract, not warned at every use
        return None, None
    declared = str(declared)
    if declared in SUPPORTED_PLUGIN_APIS:
        return declared, None
    core = metadata.version("lithops-core") if _installed("lithops-core") else "this lithops-core"
    newer = declared.isdigit() and int(declared) > int(PLUGIN_API)
    fix = ("Upgrade lithops-core: pip install --upgrade lithops-core" if newer else
           f"Upgrade the plugin to a version written for API {PLUGIN_API}: pip install --upgrade {package}")
    return declared, (f"{package} {version} is written for Lithops plugin API {declared!r}, and lithops-core "
                      f"{core} loads plugins of API {', '.join(SUPPORTED_PLUGIN_APIS)}. {fix}")


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def _misnamed_hooks(pm: pluggy.PluginManager, module: object) -> list[str]:
    """Hook implementations of ``module`` that are no hook (a typo), and hook functions left undecorated."""
    hooks = [n for n in dir(hookspecs) if n.startswith("lithops_")]
    problems = []
    for attr in dir(module):
        decorated = pm.parse_hookimpl_opts(module, attr) is not None  # type: ignore[arg-type]
        if attr in hooks:
            if not decorated and callable(getattr(module, attr, None)):
                problems.append(f"{attr}() is not decorated with @hookimpl (from lithops.plugins), so Lithops "
                                f"does not call it. Decorate it.")
        elif decorated or (attr.startswith("lithops_") and callable(getattr(module, attr, None))):
            close = difflib.get_close_matches(attr, hooks, n=1, cutoff=0.6)
            hint = f"Did you mean {close[0]}?" if close else f"The hooks are: {', '.join(hooks)}."
            problems.append(f"{attr}() is not a Lithops hook and is never called. {hint}")
    return problems


#: kind -> the base class its backends subclass, by name (importing it here would make an import cycle).
_BASES = {"compute": "lithops.backends.compute.ComputeBackend", "storage": "lithops.backends.storage.StorageBackend",
          "runtime": "lithops.backends.runtime.RuntimeBuilder"}


def class_problem(kind: str, cls: Any) -> str | None:
    """What keeps ``cls`` from serving as a backend of ``kind``: not the right base class, or abstract methods."""
    base = _BASES[kind]
    if not isinstance(cls, type) or base not in {f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__}:
        return f"is {cls!r}, which is not a subclass of {base}: make the class subclass it"
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        return (f"does not implement {', '.join(missing)} of {base.rpartition('.')[2]} (plugin API {PLUGIN_API}): "
                f"implement them")
    return None


def _names_from_env(var: str) -> set[str]:
    return {n.strip() for n in os.environ.get(var, "").split(",") if n.strip()}


class PluginRegistry:
    """The backends that installed plugins register, loaded once."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._by_name: dict[tuple[str, str], list[Registration]] = {}

    def load_entry_points(self, entry_points: Iterable[metadata.EntryPoint] | None = None) -> None:
        """Load every plugin of the ``lithops`` entry point group, each on its own."""
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        disabled = _names_from_env("LITHOPS_DISABLED_PLUGINS")
        only = _names_from_env("LITHOPS_LOAD_PLUGINS")
        for ep in entry_points:
            dist = getattr(ep, "dist", None)
            package = dist.metadata["Name"] if dist is not None else ep.name
            version = dist.version if dist is not None else ""
            names = {ep.name, package}
            if names & disabled or (only and not names & only):
                continue
            try:
                module = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a broken plugin (even one calling sys.exit()) must not break the others
                self._record_failure(ep.name, package, version, _describe(exc))
                continue
            self.register(module, name=ep.name, package=package, version=version)

    def register(self, module: ModuleType | object, *, name: str, package: str, version: str = "") -> None:
        """Register a plugin object (normally a module of hook implementations) and collect its specs."""
        info = PluginInfo(name=name, package=package, version=version)
        self.plugins[name] = info
        info.api, refusal = _plugin_api(module, package, version)
        if refusal:
            info.error = refusal
            return
        try:
            self._pm.register(module, name=name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            info.error = _describe(exc)
            return
        errors = _misnamed_hooks(self._pm, module)
        for kind, (hook_name, spec_type) in _HOOKS.items():
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not module:
                    continue
                try:
                    specs = list(impl.function() or ())
                    for spec in specs:
                        if not isinstance(spec, spec_type):
                            raise TypeError(f"{hook_name}() returned {spec!r}, expected {spec_type.__name__}")
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    errors.append(f"{hook_name}() failed: {_describe(exc)}")
                    info.backends = [r for r in info.backends if r.kind != kind]
                    continue
                for spec in specs:
                    reg = Registration(kind=kind, spec=spec, package=package, version=version)
                    info.backends.append(reg)
                    regs = self._by_name.setdefault((kind, spec.name), [])
                    if all(r.package != package for r in regs):
                        regs.append(reg)
        errors.extend(self._collect_commands(module, info))
        if errors:
            info.error = "; ".join(errors)

    def _collect_commands(self, module: object, info: PluginInfo) -> list[str]:
        """Call the plugin's ``lithops_cli_commands`` hook; return its problems."""
        import click

        for impl in self._pm.hook.lithops_cli_commands.get_hookimpls():
            if impl.plugin is not module:
                continue
            try:
                produced: Any = impl.function()
                commands = list(produced or ())
                for command in commands:
                    if not isinstance(command, click.Command):
                        raise TypeError(f"lithops_cli_commands() returned {command!r}, expected click commands")
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                return [f"lithops_cli_commands() failed: {_describe(exc)}"]
            info.commands.extend(commands)
        return []

    def cli_commands(self) -> dict[str, tuple[Any, PluginInfo]]:
        """The ``lithops`` commands plugins add: name -> (command, plugin); on a clash, the first plugin's."""
        found: dict[str, tuple[Any, PluginInfo]] = {}
        for info in self.plugins.values():
            for command in info.commands:
                found.setdefault(command.name, (command, info))
        return found

    def conflicts(self) -> list[str]:
        """Backend names registered by two packages, or taking the name of a first-party package's backend."""
        found = []
        for (kind, name), regs in sorted(self._by_name.items()):
            label = {"compute": "compute backend", "storage": "storage backend", "runtime": "runtime builder"}[kind]
            owner = providing_package(kind if kind != "runtime" else "compute", name)
            if len(regs) > 1:
                owners = " and ".join(sorted(r.package for r in regs))
                other = next((r.package for r in reversed(regs) if r.package != owner), regs[-1].package)
                found.append(f"{label} {name!r} is registered by both {owners}: neither can be used. Uninstall one "
                             f"(pip uninstall {other}) or set LITHOPS_DISABLED_PLUGINS to its name.")
                continue
            if owner and regs[0].package != owner:
                found.append(f"{label} {name!r} of {regs[0].package} takes the name of {owner}'s backend: the two "
                             f"cannot be installed together. Rename it in {regs[0].package}.")
        return found

    def _record_failure(self, name: str, package: str, version: str, error: str) -> None:
        self.plugins[name] = PluginInfo(name=name, package=package, version=version, error=error)

    def names(self, kind: str) -> list[str]:
        """Names of the installed backends of ``kind`` ('compute', 'storage' or 'runtime')."""
        return sorted(name for (k, name) in self._by_name if k == kind)

    def find(self, kind: str, name: str) -> Registration:
        """Return the registration of backend ``name``, or raise an error that says what to do."""
        regs = self._by_name.get((kind, name), [])
        if len(regs) == 1:
            return regs[0]
        label = {"compute": "compute backend", "storage": "storage backend", "runtime": "runtime builder"}[kind]
        if len(regs) > 1:
            owners = " and ".join(f"{r.package} {r.version}".strip() for r in regs)
            raise PluginConflictError(
                f"{label} {name!r} is registered by both {owners}. "
                f"Uninstall the one you do not want (pip uninstall {regs[-1].package}), "
                f"or set LITHOPS_DISABLED_PLUGINS to its name."
            )
        package = providing_package(kind if kind != "runtime" else "compute", name)
        failed = [p for p in self.plugins.values() if p.error]
        for plugin in failed:
            if package and plugin.package == package:
                raise PluginLoadError(
                    f"{plugin.package} {plugin.version} is installed but failed to load: {plugin.error}. "
                    f"Reinstall it with its dependencies: pip install --force-reinstall {plugin.package}"
                )
        present = [p for p in self.plugins.values() if package and p.package == package and not p.error]
        if present:
            plugin = present[0]
            provides = sorted({r.spec.name for p in present for r in p.backends if r.kind == kind})
            raise BackendNotFoundError(
                f"{label} {name!r} belongs to {package}, but the {package} {plugin.version} installed here does "
                f"not provide it (it provides: {', '.join(provides) or 'none'}). A later version may: "
                f"pip install --upgrade {package}"
            )
        if package:
            raise BackendNotInstalledError(
                f"{label} {name!r} is provided by {package}, which is not installed.\n    pip install {package}"
                + _from_clone(package)
            )
        installed = self.names(kind)
        candidates = set(installed) | set(KNOWN_BACKENDS.get(kind, {}))
        close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        broken = "".join(f" Plugin {p.package} failed to load ({p.error})." for p in failed)
        raise BackendNotFoundError(
            f"unknown {label} {name!r}.{hint} Installed: {', '.join(installed) or 'none'}.{broken} "
            f"Run 'lithops plugins' to see every installed plugin."
        )

    def load_class(self, kind: str, name: str) -> type:
        """Import the class of backend ``name``; an import failure names the package and the fix."""
        reg = self.find(kind, name)
        try:
            cls: type = reg.spec.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # ImportError, or module code that raised or called sys.exit()
            raise PluginLoadError(
                f"{reg.package} {reg.version} is installed but its {kind} backend '{name}' failed to import: "
                f"{_describe(exc)}. "
                f"Reinstall it with its dependencies: pip install --force-reinstall {reg.package}"
            ) from exc
        problem = class_problem(kind, cls)
        if problem:
            raise PluginLoadError(f"{reg.package} {reg.version}: {kind} backend '{name}' ({reg.spec.backend}) "
                                  f"{problem}. This is a bug of {reg.package}: upgrade it, or report it to its "
                                  f"authors.")
        return cls

    def compute_backend(self, name: str) -> ComputeBackendSpec:
        """The spec of compute backend ``name``."""
        spec = self.find("compute", name).spec
        assert isinstance(spec, ComputeBackendSpec)
        return spec

    def storage_backend(self, name: str) -> StorageBackendSpec:
        """The spec of storage backend ``name``."""
        spec = self.find("storage", name).spec
        assert isinstance(spec, StorageBackendSpec)
        return spec

    def url_schemes(self) -> dict[str, str]:
        """URL scheme -> name of the installed storage backend that declares it (``url_schemes`` of its spec)."""
        schemes: dict[str, str] = {}
        for name in self.names("storage"):
            for scheme in self.storage_backend(name).url_schemes:
                schemes.setdefault(scheme, name)
        return schemes

    def runtime_builder(self, name: str) -> RuntimeBuilderSpec:
        """The spec of the runtime builder for compute backend ``name``."""
        spec = self.find("runtime", name).spec
        assert isinstance(spec, RuntimeBuilderSpec)
        return spec


_registry: PluginRegistry | None = None
_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry, loading entry points on first call."""
    global _registry
    with _lock:
        if _registry is None:
            _warn_if_lithops3_alongside()
            registry = PluginRegistry()
            registry.load_entry_points()
            _registry = registry
        return _registry


def reset_registry(registry: PluginRegistry | None = None) -> None:
    """Forget the loaded registry (or install ``registry``); the next :func:`get_registry` reloads."""
    global _registry
    with _lock:
        _registry = registry
