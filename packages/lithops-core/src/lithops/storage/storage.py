"""``lithops.Storage``: one object API over whichever storage backend is configured."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from typing import Any, BinaryIO

from lithops.backends.storage import StorageBackend
from lithops.config import load_storage_config
from lithops.constants import CLOUDOBJECTS_PREFIX
from lithops.plugins.manager import get_registry
from lithops.plugins.specs import import_object
from lithops.storage.utils import CloudObject

_counter = itertools.count()


class Storage:
    """Object storage client bound to one backend and a default bucket.

    Args:
        config: a Lithops config dict; discovered as usual when None.
        backend: storage backend name; the configured one when None.
        storage_config: an already resolved storage config (``{'backend', 'bucket', <backend>: {...}}``).
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        backend: str | None = None,
        storage_config: Mapping[str, Any] | None = None,
    ) -> None:
        if storage_config is None:
            storage_config = load_storage_config(config, backend)
        name = storage_config["backend"]
        cls = get_registry().load_class("storage", name)
        self._attach(cls(storage_config.get(name) or {}), name, storage_config.get("bucket"))

    def _attach(self, handler: StorageBackend, name: str, bucket: str | None) -> None:
        self.storage_handler: StorageBackend = handler
        self.backend: str = name
        self.bucket: str = bucket or handler.default_bucket()
        self.storage_config = {"backend": name, "bucket": self.bucket, name: handler.config}

    @classmethod
    def from_handler(cls, handler: StorageBackend, bucket: str | None = None) -> Storage:
        """A Storage over an existing backend instance (default bucket: the backend's)."""
        self = cls.__new__(cls)
        self._attach(handler, handler.name, bucket)
        return self

    @classmethod
    def for_worker(cls, config: Mapping[str, Any], backend_class: str, name: str | None = None) -> Storage:
        """A Storage inside a worker: the backend class is given by import string (no plugin discovery).

        ``name`` is the storage backend (the config's ``lithops.storage`` when None).
        """
        name = name or config["lithops"]["storage"]
        section = config.get(name) or {}
        handler = import_object(backend_class)(section)
        handler.name = name
        return cls.from_handler(handler, section.get("storage_bucket"))

    @property
    def config(self) -> dict[str, Any]:
        """The storage config this client uses: ``{'backend', 'bucket', <backend>: section}``."""
        return self.storage_config

    def get_storage_config(self) -> dict[str, Any]:
        """Same as :attr:`config`."""
        return self.storage_config

    def get_client(self) -> Any:
        """The backend's underlying client."""
        return self.storage_handler.get_client()

    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Write an object."""
        self.storage_handler.put_object(bucket, key, body)

    def get_object(
        self, bucket: str, key: str, stream: bool = False, extra_get_args: Mapping[str, Any] | None = None
    ) -> bytes | BinaryIO:
        """Read an object (or a ``Range``); ``stream=True`` returns a file object."""
        return self.storage_handler.get_object(bucket, key, stream=stream, extra_get_args=extra_get_args or {})

    def upload_file(
        self, file_name: str, bucket: str, key: str | None = None, extra_args: Any = None, config: Any = None
    ) -> bool:
        """Upload a local file (streamed); returns True. ``extra_args`` and ``config`` (a transfer config in
        Lithops 3.x) are accepted for compatibility; backends pick their own transfer settings.
        """
        self.storage_handler.upload_file(file_name, bucket, key)
        return True

    def download_file(
        self, bucket: str, key: str, file_name: str | None = None, extra_args: Any = None, config: Any = None
    ) -> bool:
        """Download an object to a local file (streamed); returns True. ``extra_args`` and ``config`` as in
        :meth:`upload_file`.
        """
        self.storage_handler.download_file(bucket, key, file_name)
        return True

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Object metadata (``content-length``, ``last-modified``, ``etag``)."""
        return self.storage_handler.head_object(bucket, key)

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete one object."""
        self.storage_handler.delete_object(bucket, key)

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Delete several objects."""
        self.storage_handler.delete_objects(bucket, list(key_list))

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """The bucket's metadata shaped as boto3's answer, as in Lithops: ``result['ResponseMetadata']`` holds
        ``HTTPStatusCode`` (200) and ``HTTPHeaders``. Raises StorageNoSuchBucketError if it does not exist.
        """
        return self.storage_handler.head_bucket(bucket)

    def create_bucket(self, bucket: str) -> None:
        """Create a bucket if it does not exist."""
        self.storage_handler.create_bucket(bucket)

    def list_objects(
        self, bucket: str, prefix: str | None = None, match_pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects under a key prefix: ``[{'Key', 'Size', 'LastModified'}]``."""
        return self.storage_handler.list_objects(bucket, prefix, match_pattern)

    def list_keys(self, bucket: str, prefix: str | None = None) -> list[str]:
        """Keys under a key prefix."""
        return self.storage_handler.list_keys(bucket, prefix)

    def put_cloudobject(self, body: bytes | str | BinaryIO, bucket: str | None = None,
                        key: str | None = None) -> CloudObject:
        """Store ``body`` and return a CloudObject that refers to it."""
        bucket = bucket or self.bucket
        key = key or f"{CLOUDOBJECTS_PREFIX}/{uuid.uuid4().hex[:8]}-{next(_counter)}"
        self.put_object(bucket, key, body)
        return CloudObject(self.backend, bucket, key)

    def get_cloudobject(self, cloudobject: CloudObject, stream: bool = False) -> bytes | BinaryIO:
        """Read the object a CloudObject refers to."""
        if cloudobject.backend != self.backend:
            raise ValueError(
                f"{cloudobject} is stored in backend '{cloudobject.backend}', this Storage uses '{self.backend}'. "
                f"Use Storage(backend='{cloudobject.backend}')."
            )
        return self.get_object(cloudobject.bucket, cloudobject.key, stream=stream)

    def delete_cloudobject(self, cloudobject: CloudObject) -> None:
        """Delete the object a CloudObject refers to."""
        self.delete_object(cloudobject.bucket, cloudobject.key)

    def delete_cloudobjects(self, cloudobjects: list[CloudObject]) -> None:
        """Delete the objects several CloudObjects refer to."""
        by_bucket: dict[str, list[str]] = {}
        for co in cloudobjects:
            by_bucket.setdefault(co.bucket, []).append(co.key)
        for bucket, keys in by_bucket.items():
            self.delete_objects(bucket, keys)
