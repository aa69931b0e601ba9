"""A compute backend whose config declares a secret under a name that does not look like one."""

from lithops.backends import ComputeBackend
from lithops.plugins import ComputeBackendSpec, ConfigKey, hookimpl


class SecretiveBackend(ComputeBackend):
    def invoke(self, job, report):
        raise NotImplementedError


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(
        name="secretive", mode="serverless", backend="sim_backends.secret_plugin:SecretiveBackend",
        config={"passphrase_plain": ConfigKey(type=str, default="", secret=True, doc="a credential")},
    )]
