"""The code of Lithops' Lambda functions: a zip built from the client's own installed packages, no download.

It holds ``lithops`` (lithops-core), ``lithops_aws`` and the pure-Python parts of their dependencies (cloudpickle,
pluggy, PyYAML without its optional C extension), so the worker runs exactly the client's Lithops version. boto3
comes with Lambda's Python runtime. The user's own dependencies go in a layer (see ``runtime.py``).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from importlib import metadata

from lithops.backends.helpers import zip_entry, zip_modules

#: Top-level modules copied into the function's code, and the distributions whose metadata is recorded.
CODE_MODULES = ("lithops", "lithops_aws", "cloudpickle", "pluggy", "yaml")
CODE_DISTRIBUTIONS = ("lithops-core", "lithops-aws", "cloudpickle", "pluggy", "PyYAML")
#: Lithops 3.x's default layer: what a layer runtime built without a requirements file installs.
DEFAULT_LAYER_PACKAGES = ("numpy", "requests", "redis", "pika", "ps-mem", "tblib", "psutil")
#: The Lambda handler inside that code.
HANDLER = "lithops_aws.aws_lambda.entry_point.lambda_handler"

_cache: dict[str, bytes] = {}


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
        zip_modules(zf, CODE_MODULES)
        for dist in CODE_DISTRIBUTIONS:
            entry = _dist_info(dist)
            if entry is not None:
                zip_entry(zf, *entry)
    _cache["zip"] = buf.getvalue()
    return _cache["zip"]


def code_digest() -> str:
    """SHA-256 of the function code (hex), to tell whether a deployed function runs this client's code."""
    return hashlib.sha256(build_code_zip()).hexdigest()
