from lithops.testing import PluginContract


class TestLocalhostPlugin(PluginContract):
    package = "lithops-localhost"
    compute_backends = {"localhost"}
    storage_backends = {"localhost"}
