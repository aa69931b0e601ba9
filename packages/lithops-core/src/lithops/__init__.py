"""Lithops: run unmodified Python functions at massive scale, on this machine or any cloud.

The public API is that of Lithops 3.x. Backends come from plugin packages (``lithops-localhost``,
``lithops-aws``, ...), found through entry points when first needed; importing this package loads none.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FunctionExecutor",
    "LocalhostExecutor",
    "RetryingFunctionExecutor",
    "ServerlessExecutor",
    "StandaloneExecutor",
    "Storage",
    "__version__",
    "get_result",
    "wait",
]

_LAZY = {
    "FunctionExecutor": "lithops.executors",
    "LocalhostExecutor": "lithops.executors",
    "ServerlessExecutor": "lithops.executors",
    "StandaloneExecutor": "lithops.executors",
    "RetryingFunctionExecutor": "lithops.retries",
    "Storage": "lithops.storage.storage",
}


def __getattr__(name: str) -> Any:
    """Import the public classes (and read ``__version__``) on first use, keeping ``import lithops`` light."""
    if name == "__version__":
        from lithops.version import __version__ as version

        globals()[name] = version
        return version
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lithops' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


from lithops import wait  # noqa: E402 - the module is callable: lithops.wait(fs) and lithops.wait.ALL_COMPLETED
from lithops.wait import get_result  # noqa: E402
