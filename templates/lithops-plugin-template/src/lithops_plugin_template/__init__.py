"""A Lithops backend plugin to copy: a thread-pool compute backend and an in-memory storage backend."""

__version__ = "0.1.0"
