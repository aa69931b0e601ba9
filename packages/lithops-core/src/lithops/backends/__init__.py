"""The abstract base classes that every backend implements: the written contract between core and plugins."""

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.runtime import RuntimeBuilder
from lithops.backends.storage import StorageBackend

__all__ = ["ComputeBackend", "RuntimeBuilder", "StatusReporter", "StorageBackend"]
