"""The registration contract: a plugin package is installed, registers what it says, and stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from typing import ClassVar

from lithops.plugins.hookspecs import PLUGIN_API_ATTRIBUTE, SUPPORTED_PLUGIN_APIS
from lithops.plugins.manager import ENTRY_POINT_GROUP, PluginRegistry, class_problem

#: Top-level modules of cloud SDKs that registering a plugin must never import.
CLOUD_SDK_MODULES = ("boto3", "botocore", "google.cloud", "azure", "ibm_boto3", "ibm_cloud_sdk_core", "kubernetes")


class PluginContract:
    """Subclass and set ``package`` (distribution name) and the backend names it registers.

    Checks that the plugin module declares a supported ``LITHOPS_PLUGIN_API``, that registering it raises no
    error (misspelt hooks, bad config defaults) and that its backend classes can serve.
    """

    package: ClassVar[str] = ""
    compute_backends: ClassVar[set[str]] = set()
    storage_backends: ClassVar[set[str]] = set()

    def _entry_points(self) -> list[metadata.EntryPoint]:
        dist = metadata.distribution(self.package)
        return [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]

    def test_plugin_is_installed(self) -> None:
        assert self._entry_points(), f"{self.package} declares no entry point in group '{ENTRY_POINT_GROUP}'"

    def test_registers_its_backends(self) -> None:
        registry = PluginRegistry()
        registry.load_entry_points(self._entry_points())
        failed = {name: p.error for name, p in registry.plugins.items() if p.error}
        assert not failed, f"plugin failed to load: {failed}"
        assert set(registry.names("compute")) == self.compute_backends
        assert set(registry.names("storage")) == self.storage_backends

    def test_backend_classes_honour_the_contract(self) -> None:
        registry = PluginRegistry()
        registry.load_entry_points(self._entry_points())
        problems = {f"{kind} {name}": class_problem(kind, registry.find(kind, name).spec.load())
                    for kind in ("compute", "storage", "runtime") for name in registry.names(kind)}
        assert not {k: p for k, p in problems.items() if p}, "backend classes that cannot serve"

    def test_backend_classes_declare_their_schema(self) -> None:
        """Each class's ``config_schema`` is its spec's ``config`` (a runtime builder's, its compute backend's), so
        a backend built from a dict gets the defaults the config reference shows.
        """
        registry = PluginRegistry()
        registry.load_entry_points(self._entry_points())
        wrong = []
        for kind in ("compute", "storage", "runtime"):
            for name in registry.names(kind):
                spec = registry.find(kind, name).spec
                schema = spec.config
                if kind == "runtime" and name in registry.names("compute"):
                    schema = registry.compute_backend(name).config
                declared = getattr(spec.load(), "config_schema", {})
                if dict(declared) != dict(schema):
                    wrong.append(f"{kind} {name} ({spec.backend})")
        assert not wrong, (f"backend classes whose config_schema is not their spec's config: {wrong}. Set "
                           f"config_schema = <the mapping the spec's config is> on each class")

    def test_declares_its_plugin_api(self) -> None:
        for ep in self._entry_points():
            declared = getattr(ep.load(), PLUGIN_API_ATTRIBUTE, None)
            assert declared in SUPPORTED_PLUGIN_APIS, (
                f"plugin module {ep.value} declares {PLUGIN_API_ATTRIBUTE} = {declared!r}; set it to the plugin API "
                f"it is written for, one of {SUPPORTED_PLUGIN_APIS}")

    def test_registration_imports_no_cloud_sdk(self) -> None:
        modules = [ep.value.split(":")[0] for ep in self._entry_points()]
        # Compared with the modules the interpreter had before: namespace-package .pth files of installed SDKs
        # (google-cloud-*) put e.g. google.cloud in sys.modules at start-up, before any plugin is loaded.
        code = (
            "import importlib, json, sys\n"
            "before = set(sys.modules)\n"
            "import lithops\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "from lithops.plugins import get_registry\n"
            "get_registry()\n"
            f"bad = [m for m in set(sys.modules) - before if m.split('.')[0] in {CLOUD_SDK_MODULES!r} "
            f"or any(m.startswith(s + '.') or m == s for s in {CLOUD_SDK_MODULES!r})]\n"
            "print(json.dumps(bad))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert json.loads(out) == [], f"registering {self.package} imported cloud SDK modules"
