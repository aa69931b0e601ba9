"""The client's own Lithops code as a zip, for the agent on a VM.

It holds ``lithops`` (lithops-core), the pure-Python parts of its worker dependencies (cloudpickle, pluggy, PyYAML
without its optional C extension) and the top-level packages a backend adds (its own, the storage backend's), so
the VM runs exactly the client's versions and needs no package index. The same installed files give the same
bytes, so the digest names a code version.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import zipfile
from collections.abc import Iterable

#: Top-level modules every agent needs.
BASE_MODULES = ("lithops", "cloudpickle", "pluggy", "yaml")

_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib")
_FIXED_DATE = (2020, 1, 1, 0, 0, 0)
_cache: dict[tuple[str, ...], tuple[bytes, str]] = {}


def module_files(name: str) -> list[tuple[str, str]]:
    """``(path on disk, path in the zip)`` of every source file of top-level module ``name``.

    Raises:
        ImportError: the module is not installed.
    """
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"module {name} is not installed here, so it cannot be shipped to the VMs; install it")
    if spec.submodule_search_locations:
        root = next(iter(spec.submodule_search_locations))
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for fname in sorted(names):
                if not fname.endswith(_SKIP_SUFFIXES):
                    path = os.path.join(folder, fname)
                    files.append((path, os.path.relpath(path, os.path.dirname(root)).replace(os.sep, "/")))
        return files
    assert spec.origin is not None
    return [(spec.origin, os.path.basename(spec.origin))]


def build_bundle(extra_modules: Iterable[str] = ()) -> tuple[bytes, str]:
    """The zip of :data:`BASE_MODULES` and ``extra_modules``, and its digest (16 hex digits); cached."""
    modules = tuple(dict.fromkeys((*BASE_MODULES, *extra_modules)))
    if modules not in _cache:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for module in modules:
                for path, arcname in module_files(module):
                    info = zipfile.ZipInfo(arcname, _FIXED_DATE)
                    info.external_attr = 0o644 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with open(path, "rb") as f:
                        zf.writestr(info, f.read())
        data = buf.getvalue()
        _cache[modules] = (data, hashlib.sha256(data).hexdigest()[:16])
    return _cache[modules]
