"""A storage that loses the result object of call 00001 of every job (as a lifecycle rule or a concurrent
``lithops clean`` would): the template's in-memory storage, minus those writes."""

from lithops_plugin_template.plugin import STORAGE_CONFIG
from lithops_plugin_template.storage import MemoryStorage

from lithops.plugins import StorageBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "1"


class LossyStorage(MemoryStorage):
    name = "lossy_storage"

    def put_object(self, bucket, key, body):
        if not key.endswith("/00001/output.pickle"):
            super().put_object(bucket, key, body)


@hookimpl
def lithops_storage_backends():
    return [StorageBackendSpec(name="lossy_storage", backend="lossy_storage_plugin:LossyStorage",
                               config=STORAGE_CONFIG)]
