"""Object storage: the ``Storage`` client and its value types."""

from lithops.storage.storage import Storage
from lithops.storage.utils import CloudObject, StorageNoSuchBucketError, StorageNoSuchKeyError

__all__ = ["CloudObject", "Storage", "StorageNoSuchBucketError", "StorageNoSuchKeyError"]
