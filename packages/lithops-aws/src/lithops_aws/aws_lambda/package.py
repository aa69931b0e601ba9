"""The code of Lithops' Lambda functions: a zip built from the client's own installed packages, no download.

It holds ``lithops`` (lithops-core), ``lithops_aws`` and the pure-Python parts of their dependencies (cloudpickle,
pluggy, PyYAML without its optional C extension), so the worker runs exactly the client's Lithops version. boto3
comes with Lambda's Python runtime. The user's own dependencies go in a layer (see ``runtime.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import zipfile
from importlib import metadata

#: Top-level modules copied into the function's code, and the distributions whose metadata is recorded.
CODE_MODULES = ("lithops", "lithops_aws", "cloudpickle", "pluggy", "yaml")
CODE_DISTRIBUTIONS = ("lithops-core", "lithops-aws", "cloudpickle", "pluggy", "PyYAML")
#: Lithops 3.x's default layer: what a layer runtime built without a requirements file installs.
DEFAULT_LAYER_PACKAGES = ("numpy", "requests", "redis", "pika", "ps-mem", "tblib", "psutil")
#: The Lambda handler inside that code.
HANDLER = "lithops_aws.aws_lambda.entry_point.lambda_handler"

_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib")
_FIXED_DATE = (2020, 1, 1, 0, 0, 0)
_cache: dict[str, bytes] = {}


def _module_files(name: str) -> list[tuple[str, str]]:
    """``(path on disk, path in the zip)`` of every file of top-level module ``name``."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"module {name} is not installed; reinstall lithops-aws with its dependencies")
    if spec.submodule_search_locations:
        root = next(iter(spec.submodule_search_locations))
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for fname in sorted(names):
                if fname.endswith(_SKIP_SUFFIXES):
                    continue
                path = os.path.join(folder, fname)
                rel = os.path.relpath(path, os.path.dirname(root))
                files.append((path, rel.replace(os.sep, "/")))
        return files
    assert spec.origin is not None
    return [(spec.origin, os.path.basename(spec.origin))]


def _dist_info(dist_name: str) -> tuple[str, str] | None:
    try:
        version = metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None
    folder = f"{dist_name.replace('-', '_')}-{version}.dist-info"
    text = f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n"
    return f"{folder}/METADATA", text


def build_code_zip() -> bytes:
    """The function code as zip bytes (deterministic: same installed packages, same bytes); cached."""
    if "zip" in _cache:
        return _cache["zip"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for module in CODE_MODULES:
            for path, arcname in _module_files(module):
                info = zipfile.ZipInfo(arcname, _FIXED_DATE)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as f:
                    zf.writestr(info, f.read())
        for dist in CODE_DISTRIBUTIONS:
            entry = _dist_info(dist)
            if entry is not None:
                info = zipfile.ZipInfo(entry[0], _FIXED_DATE)
                info.external_attr = 0o644 << 16
                zf.writestr(info, entry[1])
    _cache["zip"] = buf.getvalue()
    return _cache["zip"]


def code_digest() -> str:
    """SHA-256 of the function code (hex), to tell whether a deployed function runs this client's code."""
    return hashlib.sha256(build_code_zip()).hexdigest()
