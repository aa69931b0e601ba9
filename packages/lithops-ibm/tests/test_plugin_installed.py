from lithops.testing import PluginContract


class TestIBMPlugin(PluginContract):
    package = "lithops-ibm"
    compute_backends = {"code_engine", "ibm_vpc"}
    storage_backends = {"ibm_cos"}


def test_worker_code_holds_the_plugins_lithops_ibm_builds_on() -> None:
    """ibm_cos subclasses lithops-aws's S3 storage: images and bundles of lithops_ibm must carry lithops_aws too."""
    import io
    import zipfile

    from lithops.standalone.bundle import build_bundle

    code, _ = build_bundle(["lithops_ibm"])
    tops = {name.split("/")[0] for name in zipfile.ZipFile(io.BytesIO(code)).namelist()}
    assert {"lithops", "lithops_ibm", "lithops_aws"} <= tops
