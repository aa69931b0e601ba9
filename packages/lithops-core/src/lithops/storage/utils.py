"""Storage value types and errors: ``CloudObject``, ``StorageNoSuchKeyError``, ``StorageNoSuchBucketError``."""

from __future__ import annotations

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
