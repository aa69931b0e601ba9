"""map, map_reduce and a data map on Compute Engine VMs with Cloud Storage, with the same executor API as on this
machine.

On Google Cloud, after the set-up of docs/backends/gcp.md (section gcp_compute_engine: the Compute Engine API
enabled, a service account for the VMs with access to the bucket; credentials from GOOGLE_APPLICATION_CREDENTIALS
or 'gcloud auth application-default login'):

    pip install ./packages/lithops-core ./packages/lithops-gcp
    python examples/gcp_compute_engine_map.py --project my-project --region us-east1 --bucket my-lithops-bucket \
        --service-account lithops-worker@my-project.iam.gserviceaccount.com

Without a Google account, on the local parts the tests use (as root: two network-namespace hosts play the VMs and
run their startup-script, a local Compute Engine API, gcp-storage-emulator relayed on the hosts' bridge address;
needs lithops-vm and `pip install gcp-storage-emulator`):

    sudo python examples/gcp_compute_engine_map.py --local [--exec-mode create]

In reuse mode (the default) the VMs stay, stopped once idle, for the next run: `lithops clean --all -b
gcp_compute_engine` deletes them.
"""

import contextlib
import os
import sys
import tempfile

import cloud_demo
import lithops
import local_vms


@contextlib.contextmanager
def local_gcp(project, zone, folder):
    from lithops_gcp.testing.fake_compute import FakeComputeEngine

    with local_vms.namespace_hosts(folder) as network:
        os.environ["NO_GCE_CHECK"] = "True"
        os.environ["CLOUDSDK_CONFIG"] = tempfile.mkdtemp(prefix="lithops-example-gcloud-")  # no credentials of yours
        with local_storage(network) as relay:
            os.environ["STORAGE_EMULATOR_HOST"] = relay.url
            # the VMs' environment stands for their service account's access to the bucket
            with FakeComputeEngine(project, [zone], network, env={"STORAGE_EMULATOR_HOST": relay.url}) as api:
                # the hosts' Python stands for the image's; the agent's files go under the temporary folder
                yield {"api_endpoint": api.url, "runtime": sys.executable, "install_dir": f"{folder}/vms"}


@contextlib.contextmanager
def local_storage(network):
    """gcp-storage-emulator, relayed on the hosts' bridge address."""
    from lithops_gcp.testing.emulators import StorageEmulator
    from lithops_gcp.testing.fake_compute import StorageRelay

    emulator = StorageEmulator().start()
    try:
        relay = StorageRelay(emulator.host, network.gateway)
        try:
            yield relay
        finally:
            relay.close()
    finally:
        emulator.stop()


def main():
    parser = local_vms.vm_arguments(__doc__, "Google Cloud")
    parser.add_argument("--project", default="lithops-example")
    parser.add_argument("--region", default="us-east1")
    parser.add_argument("--bucket", default="lithops-example-bucket")
    parser.add_argument("--service-account", default=None, help="e-mail of the VMs' service account")
    args = parser.parse_args()

    zone = f"{args.region}-b"
    with tempfile.TemporaryDirectory() as folder, \
            local_gcp(args.project, zone, folder) if args.local else contextlib.nullcontext({}) as extra:
        config = {
            "lithops": {"backend": "gcp_compute_engine", "storage": "gcp_storage"},
            "gcp": {"project_name": args.project, "region": args.region, "service_account": args.service_account},
            "gcp_compute_engine": {"zone": zone, "exec_mode": args.exec_mode, "max_workers": 2, **extra},
            "gcp_storage": {"storage_bucket": args.bucket},
        }
        storage = lithops.Storage(config=config)
        with contextlib.suppress(Exception):  # it may exist already
            storage.create_bucket(args.bucket)
        prefix = cloud_demo.put_texts(storage, args.bucket)
        with lithops.FunctionExecutor(config=config) as fexec:
            cloud_demo.run_demo(fexec, f"gs://{args.bucket}/{prefix}")


if __name__ == "__main__":
    main()
