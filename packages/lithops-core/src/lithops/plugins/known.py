"""Backend names that first-party packages provide, so a missing one gets an install hint."""

from __future__ import annotations

#: kind -> backend name -> distribution that provides it.
KNOWN_BACKENDS: dict[str, dict[str, str]] = {
    "compute": {
        "localhost": "lithops-localhost",
        "aws_lambda": "lithops-aws",
        "aws_batch": "lithops-aws",
        "aws_ec2": "lithops-aws",
        "vm": "lithops-vm",
        "code_engine": "lithops-ibm",
        "ibm_vpc": "lithops-ibm",
        "gcp_cloudrun": "lithops-gcp",
        "gcp_functions": "lithops-gcp",
        "azure_functions": "lithops-azure",
        "azure_containers": "lithops-azure",
        "azure_vms": "lithops-azure",
        "gcp_compute_engine": "lithops-gcp",
        "aliyun_fc": "lithops-aliyun",
        "k8s": "lithops-kubernetes",
        "knative": "lithops-kubernetes",
    },
    "storage": {
        "localhost": "lithops-localhost",
        "aws_s3": "lithops-aws",
        "ibm_cos": "lithops-ibm",
        "gcp_storage": "lithops-gcp",
        "azure_storage": "lithops-azure",
        "aliyun_oss": "lithops-aliyun",
    },
}


#: The backend that ``lithops.mode`` picks when ``lithops.backend`` is not set: Lithops 3.x's choices, so a config
#: written for it means the same here. Kept in this table of first-party names (not in the specs: several
#: installed backends of one mode cannot each be its default); a missing one is named with its package.
MODE_DEFAULT_BACKENDS: dict[str, str] = {
    "localhost": "localhost",
    "serverless": "aws_lambda",
    "standalone": "aws_ec2",
}

#: URL scheme of data-map inputs -> the storage backend that serves it, for the hint when it is not installed
#: (installed backends declare their schemes in ``StorageBackendSpec.url_schemes``).
KNOWN_URL_SCHEMES: dict[str, str] = {
    "s3": "aws_s3",
    "cos": "ibm_cos",
    "gs": "gcp_storage",
    "gcs": "gcp_storage",
    "azure": "azure_storage",
    "oss": "aliyun_oss",
    "localhost": "localhost",
}


def providing_package(kind: str, name: str) -> str | None:
    """Return the distribution that provides backend ``name`` of ``kind`` ('compute'/'storage'), if known."""
    return KNOWN_BACKENDS.get(kind, {}).get(name)
