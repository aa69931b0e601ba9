"""The contract of a runtime builder: building and deploying the environment workers run in."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.config import backend_settings
from lithops.errors import BackendError
from lithops.plugins.specs import ConfigKey

#: ``major.minor`` of the client's Python: a runtime must have the same to load the client's pickled functions.
CLIENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def check_runtime_python(found: str | None, where: str, fix: str) -> None:
    """Raise :class:`BackendError` unless ``found`` (a runtime's ``major.minor``) is :data:`CLIENT_PYTHON`.

    ``where`` names the runtime (e.g. "the Cloud Run runtime 'x' (service y)"); ``fix`` says what to do, as a clause
    that follows "To fix it, ".
    """
    if found == CLIENT_PYTHON:
        return
    raise BackendError(
        f"{where} runs Python {found or 'of an unknown version'}, but this client runs Python {CLIENT_PYTHON}: "
        f"functions pickled by one Python version may not load in another. Nothing was sent. To fix it, {fix}."
    )


class RuntimeBuilder(ABC):
    """Base class of runtime builders (used by ``lithops runtime ...``).

    Args:
        config: the compute backend's config section, checked against :attr:`config_schema` with its defaults
            filled in here.
        lithops_config: the whole config.
    """

    #: The schema of the compute backend's config section (its spec's ``config``).
    config_schema: ClassVar[Mapping[str, ConfigKey]] = {}

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any]) -> None:
        self.config = backend_settings(type(self).__name__, config, self.config_schema)
        self.lithops_config = lithops_config

    @abstractmethod
    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build runtime ``name`` (from a Dockerfile or requirements ``file`` where the backend supports it)."""

    @abstractmethod
    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Deploy runtime ``name`` and return its metadata (Python version, installed packages)."""

    @abstractmethod
    def list(self) -> list[dict[str, Any]]:
        """The deployed runtimes: ``[{'runtime_name', 'memory', 'version'}]``."""

    @abstractmethod
    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete a deployed runtime."""
