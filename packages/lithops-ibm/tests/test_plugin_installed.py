from lithops.testing import PluginContract


class TestIBMPlugin(PluginContract):
    package = "lithops-ibm"
    compute_backends = {"code_engine"}
    storage_backends = {"ibm_cos"}
