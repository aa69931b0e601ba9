"""The ``ibm_vpc`` compute backend: the kernel's standalone layer on IBM Cloud VPC virtual servers
(:mod:`lithops.standalone`).

The kernel's :class:`~lithops.standalone.backend.StandaloneBackend` brings VMs up as ``exec_mode`` says, runs its
agent on them and hands them work through the COS bucket; :class:`lithops_ibm.ibm_vpc.provider.VPCVMs` is the VPC
life cycle. See docs/backends/ibm.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.errors import BackendError
from lithops.plugins.specs import ConfigKey
from lithops.standalone.backend import StandaloneBackend
from lithops.standalone.provider import VM
from lithops_aws.aws_ec2.backend import CODE_URL_SEC
from lithops_ibm.ibm_vpc.provider import VPCVMs
from lithops_ibm.plugin import VPC_CONFIG


class VPCBackend(StandaloneBackend):
    """Runs calls on IBM VPC virtual servers (``ibm_vpc`` section, with the ``ibm`` and ``standalone`` sections)."""

    provider_class = VPCVMs
    section = "ibm_vpc"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = VPC_CONFIG
    #: What the agent needs on a stock image (its ``python3``) to reach COS with the VM's trusted profile.
    agent_requirements = ("boto3>=1.28.57", "ibm-cloud-sdk-core>=3.16")
    #: VMs made from user data take IAM tokens of their trusted profile, not the client's keys.
    user_data_credential_keys = ("access_key_id", "secret_access_key", "api_key", "iam_api_key")

    def _cos(self) -> Any:
        storage = self.job_storage()[0]
        if storage.backend != "ibm_cos":
            raise BackendError(f"ibm_vpc creates VMs that download Lithops's code from COS and reach it with their "
                               f"trusted profile, but the storage backend is {storage.backend}: use storage ibm_cos "
                               f"(or exec_mode consume).")
        return storage

    def user_data(self, vm: VM | None, code_url: str) -> str:
        """The kernel's bootstrap, for VMs that reach COS with their trusted profile (``trusted_profile_id``)."""
        if not self.config.get("trusted_profile_id"):
            raise BackendError("ibm_vpc creates VMs whose agent reaches COS with IAM tokens of their trusted profile, "
                               "not with your keys: create a trusted profile for VPC virtual server instances with the "
                               "Writer role on the COS bucket (IAM > Trusted profiles) and set "
                               "ibm_vpc.trusted_profile_id to its id (or use exec_mode consume).")
        return super().user_data(vm, code_url)

    def agent_config(self, vm: VM) -> dict[str, Any]:
        """The kernel's agent config; VMs made from user data take tokens of their trusted profile (no keys) and
        reach COS at its private endpoint.
        """
        config = super().agent_config(vm)
        if self.mode != "consume":
            storage = config["storage"]["config"]
            storage["instance_identity"] = True
            if storage.get("private_endpoint"):
                storage["endpoint"] = storage["private_endpoint"]
        return config

    def download_url(self, key: str) -> str:
        """A pre-signed COS URL of ``key`` in the job's bucket (COS pre-signs with HMAC keys only)."""
        storage = self._cos()
        if not getattr(storage.storage_handler, "hmac", False):
            raise BackendError("ibm_vpc: COS pre-signs URLs only with HMAC keys, and new VMs download Lithops's code "
                               "from one: set ibm_cos.access_key_id and secret_access_key (a service credential "
                               "with HMAC), or use exec_mode consume.")
        return str(storage.get_client().generate_presigned_url(
            "get_object", Params={"Bucket": storage.bucket, "Key": key}, ExpiresIn=CODE_URL_SEC))
