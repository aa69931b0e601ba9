"""A map's input as one input per call. Functions with a data parameter (``obj`` or ``url``) given names of
data (``bucket/key``, ``s3://...``, URLs, local paths) get one call per chunk of that data (the data map).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lithops.job.partitioner import Partitioner, data_param, wants_partitioning
from lithops.plugins.manager import get_registry
from lithops.storage.job_storage import JobStorage
from lithops.storage.storage import Storage


def as_iterdata(map_iterdata: Any) -> list[Any]:
    """``map_iterdata`` as a list of call inputs; a single value (string, bytes, dict) is refused."""
    if isinstance(map_iterdata, (str, bytes, dict)) or not isinstance(map_iterdata, Iterable):
        raise TypeError(
            f"map_iterdata must be a list (or other iterable) with one input per call, got "
            f"{type(map_iterdata).__name__}. To run a function once, use call_async(func, data)."
        )
    return list(map_iterdata)


class DataInputs:
    """Expands map inputs for one executor.

    Args:
        config: the executor's config; sections of other storage backends that inputs name are added to it
            (validated), for the workers.
        storage: the executor's storage.
        storage_backend_path: import string of the executor's storage backend class.
        local_files: whether local paths are allowed (workers share this machine's file system).
    """

    def __init__(self, config: dict[str, Any], storage: JobStorage, storage_backend_path: str,
                 local_files: bool) -> None:
        self.config = config
        self.storage = storage
        self.storage_backend_path = storage_backend_path
        self.local_files = local_files
        #: Storage backends, other than the executor's, that data-map inputs come from (workers need them).
        self.data_storages: set[str] = set()

    def _open_storage(self, backend: str) -> tuple[Any, str]:
        """A Storage client for a data-map input, and the backend's class path for the workers."""
        if backend == self.storage.storage_config["backend"]:
            return self.storage.get(), self.storage_backend_path
        storage = Storage(config=self.config, backend=backend)
        self.config[backend] = storage.storage_config[backend]  # workers read the validated section
        self.data_storages.add(backend)
        return storage, get_registry().storage_backend(backend).backend

    def expand(self, func: Callable[..., Any], map_iterdata: Any, chunk_size: int | None,
               chunk_number: int | None, newline: str | None) -> list[Any]:
        """The iterdata as a list; data-map inputs (``obj``/``url`` functions) split into one call per chunk."""
        param = data_param(func)
        if param is not None and isinstance(map_iterdata, str):
            map_iterdata = [map_iterdata]
        items = as_iterdata(map_iterdata)
        if param is None or not wants_partitioning(items, param):
            return items
        partitioner = Partitioner(self._open_storage, self.storage.storage_config["backend"],
                                  local_files=self.local_files, chunk_size=chunk_size,
                                  chunk_number=chunk_number, newline=newline)
        return partitioner.expand(items, param)
