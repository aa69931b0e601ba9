"""Object storage: the ``Storage`` client and its value types.

The names are imported on first use, so that workers importing a storage submodule (``chunks``) do not load
the config and plugin machinery behind ``Storage``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CloudObject", "Storage", "StorageNoSuchBucketError", "StorageNoSuchKeyError"]

_LAZY = {
    "Storage": "lithops.storage.storage",
    "CloudObject": "lithops.storage.utils",
    "StorageNoSuchBucketError": "lithops.storage.utils",
    "StorageNoSuchKeyError": "lithops.storage.utils",
}


def __getattr__(name: str) -> Any:
    """Import ``Storage`` and the value types on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lithops.storage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
