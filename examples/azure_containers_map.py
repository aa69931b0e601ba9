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
import collections
import contextlib

import lithops


def double(x):
    return 2 * x


def total(results):
    return sum(results)


def count_words(obj):
    # a data map: each call gets one chunk of a blob under the prefix
    return collections.Counter(obj.data_stream.read().decode().split())


def merge(counters):
    result = collections.Counter()
    for c in counters:
        result.update(c)
    return dict(result.most_common(3))


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
        for i, text in enumerate(["the quick brown fox", "the lazy dog and the fox", "a fox"]):
            storage.put_object(storage.bucket, f"example/texts/{i}.txt", (text + "\n") * 100)

        executor = (lithops.FunctionExecutor(config=config) if config
                    else lithops.FunctionExecutor(backend=args.backend, storage="azure_storage"))
        with executor as fexec:
            print("map:       ", fexec.map(double, range(10)).get_result())
            print("map_reduce:", fexec.map_reduce(double, range(100), total).get_result())
            print("data map:  ", fexec.map_reduce(count_words, f"az://{storage.bucket}/example/texts/", merge,
                                                  obj_chunk_size=1024).get_result())


if __name__ == "__main__":
    main()
