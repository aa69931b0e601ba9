from lithops.testing import PluginContract


class TestVMPlugin(PluginContract):
    package = "lithops-vm"
    compute_backends = {"vm"}
    storage_backends: set[str] = set()
