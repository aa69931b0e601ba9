"""Calls that wait until the test lets them go, for the kernel tests on the in-process backends (the
``events`` fixture in conftest.py hands a test fresh events).
"""

from __future__ import annotations

import threading

#: Events that :func:`held` calls wait for, by key.
Events = dict[str, threading.Event]
EVENTS: Events = {}


def held(key: str) -> str:
    """Returns once the test sets ``EVENTS[key]``."""
    EVENTS[key].wait(30)
    return key


def hold(events: Events, *keys: str) -> list[str]:
    """Make an event for each key, so that ``held(key)`` calls wait for it; return the keys."""
    for key in keys:
        events[key] = threading.Event()
    return list(keys)
