"""A config key whose default its own type refuses."""

from lithops.plugins import ComputeBackendSpec, ConfigKey, hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(name="badcloud", mode="serverless", backend="fake_backends:FakeCompute",
                               config={"max_workers": ConfigKey(type=int, default="4", doc="workers")})]
