"""The ``aws_ec2`` compute backend: the kernel's standalone layer on EC2 VMs (:mod:`lithops.standalone`).

The kernel's :class:`~lithops.standalone.backend.StandaloneBackend` brings VMs up as ``exec_mode`` says, runs its
agent on them and hands them work through the storage bucket; :class:`lithops_aws.aws_ec2.provider.EC2VMs` is the
EC2 life cycle. See docs/backends/aws.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from lithops.errors import BackendError
from lithops.plugins.specs import ConfigKey
from lithops.standalone.backend import StandaloneBackend
from lithops_aws.aws_ec2.provider import EC2VMs
from lithops_aws.plugin import EC2_CONFIG

#: Seconds a pre-signed URL of the code zip is valid (a VM made from the user data downloads it at its first boot;
#: 7 days is S3's longest).
CODE_URL_SEC = 7 * 24 * 3600


class EC2Backend(StandaloneBackend):
    """Runs calls on EC2 VMs (``aws_ec2`` section, with the ``aws`` and ``standalone`` sections)."""

    provider_class = EC2VMs
    section = "aws_ec2"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = EC2_CONFIG
    #: What the agent needs on a stock image (its ``python3``) to reach S3.
    agent_requirements = ("boto3>=1.28.57",)
    #: VMs made from user data use their instance profile's credentials, not the client's keys.
    user_data_credential_keys = ("access_key_id", "secret_access_key", "session_token", "config_profile")

    def download_url(self, key: str) -> str:
        """A pre-signed S3 URL of ``key`` in the job's bucket."""
        storage = self.job_storage()[0]
        if storage.backend != "aws_s3":
            raise BackendError(f"aws_ec2 creates VMs that download Lithops's code from S3, but the storage backend "
                               f"is {storage.backend}: use storage aws_s3 (or exec_mode consume).")
        return str(storage.get_client().generate_presigned_url(
            "get_object", Params={"Bucket": storage.bucket, "Key": key}, ExpiresIn=CODE_URL_SEC))
