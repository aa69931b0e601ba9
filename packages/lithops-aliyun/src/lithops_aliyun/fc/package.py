"""The code of Lithops' Function Compute functions: a zip built from the client's own installed packages.

It holds ``lithops`` (lithops-core), ``lithops_aliyun`` and the pure-Python parts of their dependencies
(cloudpickle, pluggy, PyYAML without its C extension), so the worker runs exactly the client's Lithops version.
The SDKs the worker needs (the OSS SDK and Alibaba's credentials library, which have binary parts) and the user's
own packages come in a layer built for FC's platform by the runtime builder (``runtime.py``).
"""

from __future__ import annotations

import hashlib
import io
import zipfile

from lithops.backends.helpers import zip_modules

#: Top-level modules copied into the function's code.
CODE_MODULES = ("lithops", "lithops_aliyun", "cloudpickle", "pluggy", "yaml")
#: What the dependency layer of every runtime installs besides the user's requirements.
LAYER_PACKAGES = ("alibabacloud-oss-v2>=1.1", "alibabacloud-credentials>=0.3")
#: The handler of zip functions (module.function, FC's Python runtime form).
HANDLER = "lithops_aliyun.fc.entry_point.handler"
#: The command of custom-container functions: an HTTP server on FC's port.
CONTAINER_COMMAND = ("python3", "-m", "lithops_aliyun.fc.entry_point")

_cache: dict[str, bytes] = {}


def build_code_zip() -> bytes:
    """The function code as zip bytes (the same installed packages give the same bytes); cached."""
    if "zip" not in _cache:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zip_modules(zf, CODE_MODULES)
        _cache["zip"] = buf.getvalue()
    return _cache["zip"]


def code_digest() -> str:
    """Short SHA-256 of the function code, to tell whether a deployed function runs this client's code."""
    return hashlib.sha256(build_code_zip()).hexdigest()[:16]
