"""map, map_reduce and a data map on Azure Container Apps with Blob storage, with the same executor API as on this
machine.

On Azure, after the set-up of docs/backends/azure.md (the config in ~/.lithops/config, or these options):

    pip install ./packages/lithops-core ./packages/lithops-azure
    python examples/azure_containers_map.py [--backend azure_functions]

Without an Azure account, on the local parts the tests use (Azurite for blobs and queues, a local Resource Manager,
replicas or a Functions host running the real worker code as local processes; needs node's Azurite, see the docs):

    python examples/azure_containers_map.py --local [--backend azure_functions]
"""

import argparse
import contextlib

import cloud_demo
import lithops


@contextlib.contextmanager
def local_azure():
    from lithops_azure.testing.arm_fake import FakeArm
    from lithops_azure.testing.azurite import Azurite
    from lithops_azure.testing.container_apps import LocalContainerApps
    from lithops_azure.testing.functions_host import LocalFunctions

    with Azurite() as azurite, FakeArm(polls=1) as arm:
        arm.add_environment("lithops-rg", "lithops-env")
        replicas, functions = LocalContainerApps(arm), LocalFunctions(arm)
        try:
            yield {
                "azure": {"subscription_id": arm.subscription, "resource_group": "lithops-rg", "region": "westeurope",
                          "arm_endpoint": arm.url, "access_token": arm.token},
                "azure_storage": {"connection_string": azurite.connection_string},
                "azure_containers": {"environment": "lithops-env", "runtime": "lithops-example:1"},
                "azure_functions": {"invoke_endpoint": "http://{host}"},
            }
        finally:
            replicas.stop()
            functions.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="azure_containers", choices=("azure_containers", "azure_functions"))
    parser.add_argument("--local", action="store_true", help="use the local stand-ins instead of Azure")
    args = parser.parse_args()

    with local_azure() if args.local else contextlib.nullcontext({}) as sections:
        config = {"lithops": {"backend": args.backend, "storage": "azure_storage"}, **sections} if sections else None
        storage = lithops.Storage(config=config) if config else lithops.Storage(backend="azure_storage")
        prefix = cloud_demo.put_texts(storage, storage.bucket)

        executor = (lithops.FunctionExecutor(config=config) if config
                    else lithops.FunctionExecutor(backend=args.backend, storage="azure_storage"))
        with executor as fexec:
            cloud_demo.run_demo(fexec, f"az://{storage.bucket}/{prefix}")


if __name__ == "__main__":
    main()
