"""``wait`` and ``get_result`` over futures of one or several executors (the ``lithops.wait`` of Lithops 3.x).

The implementation lives with the futures (:mod:`lithops.futures`), as :func:`concurrent.futures.wait` does.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from lithops.futures import (
    ALL_COMPLETED,
    ALWAYS,
    ANY_COMPLETED,
    THREADPOOL_SIZE,
    WAIT_DUR_SEC,
    FuturesList,
    as_future_list,
    get_result,
    wait,
)

__all__ = ["ALL_COMPLETED", "ALWAYS", "ANY_COMPLETED", "THREADPOOL_SIZE", "WAIT_DUR_SEC", "as_future_list",
           "get_result", "wait"]


class _CallableModule(types.ModuleType):
    """Lets ``lithops.wait`` be both this module (``lithops.wait.ALL_COMPLETED``) and the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[FuturesList, FuturesList]:
        return wait(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
