"""The client's own Lithops code as a zip, for the agent on a VM.

It holds ``lithops`` (lithops-core), the pure-Python parts of its worker dependencies (cloudpickle, pluggy, PyYAML
without its optional C extension) and the top-level packages a backend adds (its own, the storage backend's), so
the VM runs exactly the client's versions and needs no package index. The same installed files give the same
bytes, so the digest names a code version.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable

from lithops.backends.helpers import zip_modules

#: Top-level modules every agent needs.
BASE_MODULES = ("lithops", "cloudpickle", "pluggy", "yaml")

_cache: dict[tuple[str, ...], tuple[bytes, str]] = {}


def build_bundle(extra_modules: Iterable[str] = ()) -> tuple[bytes, str]:
    """The zip of :data:`BASE_MODULES` and ``extra_modules``, and its digest (16 hex digits); cached."""
    modules = tuple(dict.fromkeys((*BASE_MODULES, *extra_modules)))
    if modules not in _cache:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zip_modules(zf, modules)
        data = buf.getvalue()
        _cache[modules] = (data, hashlib.sha256(data).hexdigest()[:16])
    return _cache[modules]
