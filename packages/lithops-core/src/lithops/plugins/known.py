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
        "gcp_batch": "lithops-gcp",
        "azure_functions": "lithops-azure",
        "azure_containers": "lithops-azure",
        "azure_vms": "lithops-azure",
    },
    "storage": {
        "localhost": "lithops-localhost",
        "aws_s3": "lithops-aws",
        "ibm_cos": "lithops-ibm",
        "gcp_storage": "lithops-gcp",
        "azure_storage": "lithops-azure",
    },
}


#: URL scheme of data-map inputs -> the storage backend that serves it, for the hint when it is not installed
#: (installed backends declare their schemes in ``StorageBackendSpec.url_schemes``).
KNOWN_URL_SCHEMES: dict[str, str] = {
    "s3": "aws_s3",
    "cos": "ibm_cos",
    "gs": "gcp_storage",
    "gcs": "gcp_storage",
    "azure": "azure_storage",
    "localhost": "localhost",
}


def providing_package(kind: str, name: str) -> str | None:
    """Return the distribution that provides backend ``name`` of ``kind`` ('compute'/'storage'), if known."""
    return KNOWN_BACKENDS.get(kind, {}).get(name)
