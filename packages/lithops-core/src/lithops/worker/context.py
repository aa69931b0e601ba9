"""What a running call knows about itself: that it runs in a Lithops worker, and the config of the executor that
submitted it (which a ``FunctionExecutor()`` made inside the call inherits).

A worker process learns both from its environment (``LITHOPS_WORKER=1`` and ``LITHOPS_WORKER_CONFIG``, set around
each call). A call that runs in the client's own process (an in-process backend, docs/plugins.md) must not touch
the client's environment, so it carries them in a context variable instead, local to the thread (and asyncio
task) that runs it.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from lithops.constants import WORKER_CONFIG_ENV, WORKER_ENV

#: The config of the in-process call running in this context (None: none is).
_CALL_CONFIG: ContextVar[dict[str, Any] | None] = ContextVar("lithops_call_config", default=None)


@contextmanager
def in_process_call(config: dict[str, Any]) -> Iterator[None]:
    """Mark the calling context as running a call submitted with ``config``, for the block's duration."""
    token = _CALL_CONFIG.set(config)
    try:
        yield
    finally:
        _CALL_CONFIG.reset(token)


def running_call() -> bool:
    """Whether this code runs inside a Lithops call: in a worker process, or an in-process call's context."""
    return _CALL_CONFIG.get() is not None or os.environ.get(WORKER_ENV) == "1"


def inherited_config() -> dict[str, Any] | None:
    """The config of the executor whose call is running here (a copy), or None outside calls."""
    config = _CALL_CONFIG.get()
    if config is not None:
        return copy.deepcopy(config)
    inherited = os.environ.get(WORKER_CONFIG_ENV)
    return json.loads(inherited) if inherited else None
