"""map, map_reduce and a data map on a Kubernetes cluster (backend k8s or knative), with the same executor API as on
this machine.

On your cluster (the kubeconfig of kubectl; storage any backend the pods can reach, e.g. MinIO through aws_s3):

    pip install ./packages/lithops-core ./packages/lithops-kubernetes ./packages/lithops-aws
    python examples/k8s_map.py --backend k8s --runtime docker.io/me/lithops-k8s:1 --storage aws_s3 --bucket my-bucket

Without a cluster, on the local fake Kubernetes API server the tests use (its pods are local processes running the
real worker entry points; localhost storage):

    python examples/k8s_map.py --local [--backend knative]

Setting up a cluster, the RBAC Role to apply and building a runtime image: docs/backends/kubernetes.md.
"""

import argparse
import contextlib
import os
import sys
import tempfile

import cloud_demo
import lithops


@contextlib.contextmanager
def local_config(backend):
    from lithops.backends.runtime import CLIENT_PYTHON
    from lithops_kubernetes.testing import FakeKubernetes

    image = f"registry.example.com/lithops/example:py{CLIENT_PYTHON}"
    folder = tempfile.mkdtemp(prefix="lithops-k8s-example-")
    with FakeKubernetes(images={image: sys.executable}) as cluster:
        yield {
            "lithops": {"backend": backend, "storage": "localhost", "monitoring_interval": 0.2},
            "localhost": {"storage_root": os.path.join(folder, "storage"), "storage_bucket": "example"},
            backend: {"kubecfg_path": cluster.write_kubeconfig(os.path.join(folder, "kubeconfig")),
                      "runtime": image, "max_workers": 4},
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="k8s", choices=("k8s", "knative"))
    parser.add_argument("--local", action="store_true", help="use the local fake cluster")
    parser.add_argument("--runtime", help="container image of the workers (default: Lithops' default image)")
    parser.add_argument("--storage", default="aws_s3", help="storage backend the pods can reach")
    parser.add_argument("--bucket", help="storage bucket")
    args = parser.parse_args()

    if args.local:
        context = local_config(args.backend)
    else:
        section = {"runtime": args.runtime} if args.runtime else {}
        storage = {"storage_bucket": args.bucket} if args.bucket else {}
        context = contextlib.nullcontext({"lithops": {"backend": args.backend, "storage": args.storage},
                                          args.backend: section, args.storage: storage})
    with context as config, lithops.FunctionExecutor(config=config) as fexec:
        prefix = cloud_demo.put_texts(fexec.storage, fexec.storage.bucket)
        cloud_demo.run_demo(fexec, f"{fexec.storage.bucket}/{prefix}")


if __name__ == "__main__":
    main()
