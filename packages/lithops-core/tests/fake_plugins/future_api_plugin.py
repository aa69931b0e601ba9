"""Written for a plugin API this lithops-core does not know yet."""

from lithops.plugins import ComputeBackendSpec, hookimpl

LITHOPS_PLUGIN_API = "2"


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(name="futurecloud", mode="serverless", backend="fake_backends:FakeCompute")]
