"""Storage value types and errors: ``CloudObject`` (and ``CloudObjectUrl``, ``CloudObjectLocal``),
``StorageNoSuchKeyError``, ``StorageNoSuchBucketError``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lithops.errors import LithopsError


class StorageNoSuchKeyError(LithopsError, KeyError):
    """The object does not exist."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(bucket, key)
        self.bucket = bucket
        self.key = key

    def __str__(self) -> str:
        return f"no object {self.key!r} in bucket {self.bucket!r}. Check the key (list_keys shows what exists)."


class StorageNoSuchBucketError(LithopsError, KeyError):
    """The bucket does not exist."""

    def __init__(self, bucket: str) -> None:
        super().__init__(bucket)
        self.bucket = bucket

    def __str__(self) -> str:
        return f"bucket {self.bucket!r} does not exist. Create it first or fix storage_bucket in the config."


@dataclass(frozen=True)
class CloudObject:
    """A reference to a stored object, as returned by ``Storage.put_cloudobject``."""

    backend: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{self.backend}://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class CloudObjectUrl:
    """A reference to data named by its URL (``http://``, ``https://``)."""

    url: str

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class CloudObjectLocal:
    """A reference to a file on the local file system; ``bucket`` is its folder and ``key`` its name."""

    path: str

    @property
    def bucket(self) -> str:
        """The folder the file is in."""
        return os.path.dirname(self.path)

    @property
    def key(self) -> str:
        """The file name."""
        return os.path.basename(self.path)

    def __str__(self) -> str:
        return self.path
