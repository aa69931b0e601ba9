"""The client's own Lithops code as a zip, for the agent on a VM.

It holds ``lithops`` (lithops-core), the pure-Python parts of its worker dependencies (cloudpickle, pluggy, PyYAML
without its optional C extension) and the top-level packages a backend adds (its own, the storage backend's), so
the VM runs exactly the client's versions and needs no package index. The same installed files give the same
bytes, so the digest names a code version.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterable

from lithops.backends.helpers import zip_modules

#: Top-level modules every agent needs.
BASE_MODULES = ("lithops", "cloudpickle", "pluggy", "yaml")

_cache: dict[tuple[str, ...], tuple[bytes, str]] = {}


def with_plugin_dependencies(modules: Iterable[str]) -> list[str]:
    """``modules`` plus the top-level modules of the Lithops plugin distributions that their distributions
    require, recursively: e.g. ``lithops_ibm`` brings ``lithops_aws``, whose S3 code its storage backend subclasses.

    A plugin distribution's top-level modules are those its ``lithops`` entry points name (this also works for
    editable installs); modules of no plugin distribution are kept as they are.
    """
    from importlib import metadata

    tops: dict[str, list[str]] = {}  # plugin distribution -> its top-level modules
    owner: dict[str, str] = {}  # top-level module -> plugin distribution
    for ep in metadata.entry_points(group="lithops"):
        if ep.dist is None:
            continue
        dist, top = _normal(ep.dist.metadata["Name"]), ep.value.split(":")[0].split(".")[0]
        tops.setdefault(dist, []).append(top)
        owner.setdefault(top, dist)
    result = list(dict.fromkeys(modules))
    for module in result:  # grows while it is walked
        if module not in owner:
            continue
        for text in metadata.requires(owner[module]) or []:
            name = _normal(re.split(r"[\s\[<>=!~;(]", text.strip(), maxsplit=1)[0])
            if ";" not in text and name in tops:
                result.extend(t for t in tops[name] if t not in result)
    return result


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def build_bundle(extra_modules: Iterable[str] = ()) -> tuple[bytes, str]:
    """The zip of :data:`BASE_MODULES`, ``extra_modules`` and the Lithops plugins those depend on
    (:func:`with_plugin_dependencies`), and its digest (16 hex digits); cached.
    """
    modules = tuple(dict.fromkeys((*BASE_MODULES, *with_plugin_dependencies(extra_modules))))
    if modules not in _cache:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zip_modules(zf, modules)
        data = buf.getvalue()
        _cache[modules] = (data, hashlib.sha256(data).hexdigest()[:16])
    return _cache[modules]
