"""The executor's storage as compute backends receive it (``ComputeBackend(..., storage=...)``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lithops.config import extract_storage_config
from lithops.plugins.manager import get_registry
from lithops.storage.storage import Storage


class JobStorage:
    """The executor's :class:`lithops.Storage` client, made on first use (push backends may never need it), and
    the import string of its storage backend's class, which workers import.

    Args:
        storage_config: the storage part of a validated config (:func:`lithops.config.extract_storage_config`).
        backend_path: import string (``"module:Class"``) of the storage backend's class.
    """

    def __init__(self, storage_config: dict[str, Any], backend_path: str) -> None:
        self.storage_config = storage_config
        self.backend_path = backend_path
        self._storage: Storage | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> JobStorage:
        """The storage a validated config names (for code that builds a backend without an executor)."""
        storage_config = extract_storage_config(config)
        return cls(storage_config, get_registry().storage_backend(storage_config["backend"]).backend)

    def get(self) -> Storage:
        """The client."""
        if self._storage is None:
            self._storage = Storage(storage_config=self.storage_config)
        return self._storage
