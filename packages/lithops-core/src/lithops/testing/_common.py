"""What the contract suites share: declared capabilities, checked for typos, and a time limit on every test."""

from __future__ import annotations

import difflib
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest


class ContractSuite:
    """Base of the contract suites: ``skip_capabilities`` names are checked when a subclass is defined, and each
    test is stopped after ``test_timeout`` seconds (unless pytest-timeout already bounds it with SIGALRM).
    """

    #: capability -> what a backend that lacks it cannot do (set by each suite).
    capabilities: ClassVar[Mapping[str, str]] = {}
    #: Capabilities the backend under test lacks: their tests are skipped.
    skip_capabilities: ClassVar[set[str]] = set()
    #: Seconds one test may take in all.
    test_timeout: ClassVar[float] = 300.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(set(cls.skip_capabilities) - set(cls.capabilities))
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, list(cls.capabilities), n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise TypeError(
                f"{cls.__name__}.skip_capabilities lists unknown capabilities: {', '.join(hints)}. "
                f"The capabilities are: {', '.join(sorted(cls.capabilities))}."
            )

    def _skip_unless(self, capability: str) -> None:
        if capability not in self.capabilities:  # a typo in the suite itself
            raise KeyError(f"unknown capability {capability!r}")
        if capability in self.skip_capabilities:
            pytest.skip(f"backend declares no '{capability}' capability")

    @pytest.fixture(autouse=True)
    def _contract_time_limit(self, request: pytest.FixtureRequest) -> Iterator[None]:
        with time_limit(self.test_timeout, request.node.nodeid):
            yield


class ContractTimeout(Exception):
    """A contract test ran past its time limit."""


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise :class:`ContractTimeout` in the main thread after ``seconds``, naming ``what``.

    Uses SIGALRM, so only in the main thread of a POSIX process and when nobody else (pytest-timeout's signal
    method) has set a handler; otherwise the caller's own bound applies.
    """
    usable = (hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
              and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None))
    if not usable:
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise ContractTimeout(f"{what} did not finish within {seconds:g} s (the contract suite's test_timeout)")

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def bounded_join(thread: threading.Thread, seconds: float, what: str) -> None:
    """Join ``thread``; fail the test, naming ``what``, if it is still running after ``seconds``."""
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{what} did not return within {seconds:g} s")
