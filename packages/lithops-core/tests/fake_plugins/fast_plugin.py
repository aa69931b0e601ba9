"""A compute backend that declares a status interval of its own."""

from lithops.plugins import ComputeBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "1"


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(name="fastcloud", mode="serverless", backend="fake_backends:FastCompute",
                               default_storage="fakestore")]
