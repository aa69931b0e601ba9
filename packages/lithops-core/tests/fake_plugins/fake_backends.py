"""Minimal backend classes for registry tests."""

from lithops.backends import ComputeBackend, StorageBackend


class FakeCompute(ComputeBackend):
    def invoke(self, job, report):
        raise NotImplementedError


class FakeStorage(StorageBackend):
    name = "fakestore"

    def put_object(self, bucket, key, body):
        raise NotImplementedError

    def get_object(self, bucket, key, stream=False, extra_get_args=None):
        raise NotImplementedError

    def head_object(self, bucket, key):
        raise NotImplementedError

    def delete_object(self, bucket, key):
        raise NotImplementedError

    def head_bucket(self, bucket):
        raise NotImplementedError

    def create_bucket(self, bucket):
        raise NotImplementedError

    def list_objects(self, bucket, prefix=None, match_pattern=None):
        raise NotImplementedError


class HalfCompute(ComputeBackend):
    """Leaves invoke out."""


class HalfStorage(StorageBackend):
    """Implements nothing."""


class FastCompute(FakeCompute):
    """Declares the status interval that suits it."""

    status_interval = 0.25
