"""Compute backends for ``lithops clean``: one that deletes what crashed executors left on its platform (here, the
lines of a file) and says what it deleted, one that leaves nothing behind (and must not even be built)."""

from lithops.backends.compute import ComputeBackend
from lithops.plugins import ComputeBackendSpec, ConfigKey, hookimpl

LITHOPS_PLUGIN_API = "1"

LEFTOVERS_CONFIG = {"platform_file": ConfigKey(type=str, required=True, doc="file of the platform's leftovers")}


class LeftoversCompute(ComputeBackend):
    config_schema = LEFTOVERS_CONFIG

    def invoke(self, job, report):
        raise NotImplementedError

    def clean_leftovers(self):
        path = self.config["platform_file"]
        with open(path) as f:
            leftovers = f.read().split()
        with open(path, "w"):
            pass
        return [f"Deleted job {name} that a crashed executor left." for name in leftovers]


class TidyCompute(ComputeBackend):
    def __init__(self, *args, **kwargs):
        raise AssertionError("lithops clean must not build a backend that has nothing to clean")

    def invoke(self, job, report):
        raise NotImplementedError


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(name="leftovers", mode="serverless", backend="leftovers_plugin:LeftoversCompute",
                               config=LEFTOVERS_CONFIG, default_storage="template_storage"),
            ComputeBackendSpec(name="tidy", mode="serverless", backend="leftovers_plugin:TidyCompute",
                               default_storage="template_storage")]
