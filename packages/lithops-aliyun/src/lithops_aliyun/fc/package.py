"""The code of Lithops' Function Compute functions: the client's own installed Lithops code as a zip.

It is :func:`lithops.standalone.bundle.build_bundle` of ``lithops_aliyun``: ``lithops`` (lithops-core),
``lithops_aliyun`` and the pure-Python parts of their dependencies (cloudpickle, pluggy, PyYAML without its C
extension), so the worker runs exactly the client's Lithops version. The SDKs the worker needs (the OSS SDK and
Alibaba's credentials library, which have binary parts) and the user's own packages come in a layer built for FC's
platform by the runtime builder (``runtime.py``), or in the image of a custom container.
"""

from __future__ import annotations

from lithops.standalone.bundle import build_bundle

#: What the dependency layer of every runtime (and every image) installs besides the user's requirements.
LAYER_PACKAGES = ("alibabacloud-oss-v2>=1.1", "alibabacloud-credentials>=0.3")
#: The handler of zip functions (module.function, FC's Python runtime form).
HANDLER = "lithops_aliyun.fc.entry_point.handler"
#: The command of custom-container functions: an HTTP server on FC's port.
CONTAINER_COMMAND = ("python3", "-m", "lithops_aliyun.fc.entry_point")


def build_code_zip() -> bytes:
    """The function code as zip bytes (the same installed packages give the same bytes); cached."""
    return build_bundle(["lithops_aliyun"])[0]


def code_digest() -> str:
    """Short digest of the function code, to tell whether a deployed function runs this client's code."""
    return build_bundle(["lithops_aliyun"])[1]
