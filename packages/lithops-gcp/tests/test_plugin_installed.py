from lithops.testing import PluginContract


class TestGCPPlugin(PluginContract):
    package = "lithops-gcp"
    compute_backends = {"gcp_cloudrun", "gcp_functions", "gcp_compute_engine"}
    storage_backends = {"gcp_storage"}
