"""The ``azure_vms`` compute backend: the kernel's standalone layer on Azure VMs (:mod:`lithops.standalone`).

The kernel's :class:`~lithops.standalone.backend.StandaloneBackend` brings VMs up as ``exec_mode`` says, runs its
agent on them and hands them work through the storage container; :class:`lithops_azure.vms.provider.AzureVMs` is
the Azure life cycle. See docs/backends/azure.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import ClassVar

from lithops.errors import BackendError
from lithops.plugins.specs import ConfigKey
from lithops.standalone.backend import StandaloneBackend
from lithops_azure.plugin import VMS_CONFIG
from lithops_azure.vms.provider import AzureVMs

#: How long the SAS URL of the code zip is valid (a VM made from the customData downloads it at its first boot).
CODE_URL_VALIDITY = timedelta(days=7)


class AzureVMsBackend(StandaloneBackend):
    """Runs calls on Azure VMs (``azure_vms`` section, with the ``azure`` and ``standalone`` sections)."""

    provider_class = AzureVMs
    section = "azure_vms"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = VMS_CONFIG
    #: What the agent needs on a stock image (its ``python3``) to reach Blob storage.
    agent_requirements = ("azure-storage-blob>=12.19",)

    def download_url(self, key: str) -> str:
        """A read-only SAS URL of blob ``key`` in the job's container, signed with the storage account key."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        storage = self.job_storage()[0]
        if storage.backend != "azure_storage":
            raise BackendError(f"azure_vms creates VMs that download Lithops's code from Azure Blob storage, but the "
                               f"storage backend is {storage.backend}: use storage azure_storage (or exec_mode "
                               f"consume).")
        blob = storage.get_client().get_blob_client(storage.bucket, key)
        account_key = getattr(blob.credential, "account_key", None)
        if not account_key:
            raise BackendError("azure_vms signs the URL new VMs download Lithops's code from with the storage "
                               "account key: set azure_storage.storage_account_key or connection_string (the key is "
                               "under the account's 'Access keys').")
        token = generate_blob_sas(blob.account_name, storage.bucket, key, account_key=account_key,
                                  permission=BlobSasPermissions(read=True),
                                  expiry=datetime.now(timezone.utc) + CODE_URL_VALIDITY)
        return f"{blob.url}?{token}"
