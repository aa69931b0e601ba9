"""map, map_reduce and a data map on Azure VMs with Blob storage, with the same executor API as on this machine.

On Azure, after the set-up of docs/backends/azure.md (section azure_vms; the config in ~/.lithops/config):

    pip install ./packages/lithops-core ./packages/lithops-azure
    python examples/azure_vms_map.py

Without an Azure account, on the local parts the tests use (as root: two network-namespace hosts play the VMs and
boot from their customData, a local Resource Manager with Microsoft.Compute and Microsoft.Network, and an Azurite on
the hosts' bridge address; needs node's Azurite, see the docs):

    sudo python examples/azure_vms_map.py --local [--exec-mode create]
"""

import contextlib
import sys
import tempfile

import cloud_demo
import lithops
import local_vms


@contextlib.contextmanager
def local_azure(folder):
    from lithops_azure.testing.azurite import Azurite
    from lithops_azure.testing.compute_fake import FakeCompute

    with local_vms.namespace_hosts(folder) as network, Azurite(host=network.gateway) as azurite:
        arm = FakeCompute(network).start()
        try:
            yield {
                "azure": {"subscription_id": arm.subscription, "resource_group": "lithops-rg",
                          "region": "westeurope", "arm_endpoint": arm.url, "access_token": arm.token},
                "azure_storage": {"connection_string": azurite.connection_string},
                # the hosts' Python stands for the image's; the agent's files go under the temporary folder
                "azure_vms": {"runtime": sys.executable, "install_dir": f"{folder}/vms", "max_workers": 2},
            }
        finally:
            arm.close()


def main():
    # --exec-mode applies with --local (on Azure, azure_vms.exec_mode of the config applies)
    args = local_vms.vm_arguments(__doc__, "Azure").parse_args()

    with tempfile.TemporaryDirectory() as folder, \
            local_azure(folder) if args.local else contextlib.nullcontext({}) as sections:
        config = None
        if sections:
            sections["azure_vms"]["exec_mode"] = args.exec_mode
            config = {"lithops": {"backend": "azure_vms", "storage": "azure_storage"}, **sections}
        storage = lithops.Storage(config=config) if config else lithops.Storage(backend="azure_storage")
        prefix = cloud_demo.put_texts(storage, storage.bucket)

        executor = (lithops.FunctionExecutor(config=config) if config
                    else lithops.FunctionExecutor(backend="azure_vms", storage="azure_storage"))
        with executor as fexec:
            cloud_demo.run_demo(fexec, f"az://{storage.bucket}/{prefix}")


if __name__ == "__main__":
    main()
