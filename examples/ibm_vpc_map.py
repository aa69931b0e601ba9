"""map, map_reduce and a data map on IBM Cloud VPC virtual servers with Cloud Object Storage, with the same executor
API as on this machine.

On IBM Cloud, after the set-up of docs/backends/ibm.md (section ibm_vpc: an IAM API key, COS HMAC keys, a trusted
profile for the VMs):

    pip install ./packages/lithops-core ./packages/lithops-ibm
    IBM_API_KEY=... COS_KEY_ID=... COS_SECRET=... TRUSTED_PROFILE=Profile-... \
        python examples/ibm_vpc_map.py --region us-south

Without an IBM Cloud account, on the local parts the tests use (as root: two network-namespace hosts play the VMs
and boot from their user data, a local IAM and VPC API, moto's S3 server behind relays on the hosts' bridge address;
needs lithops-vm and `pip install 'moto[server]'`):

    sudo python examples/ibm_vpc_map.py --local [--exec-mode create]
"""

import contextlib
import os
import sys
import tempfile

import cloud_demo
import lithops
import local_vms


@contextlib.contextmanager
def local_ibm(folder):
    from lithops_aws.testing.moto_server import MotoServer
    from lithops_ibm.testing.cos_relay import BearerCOS
    from lithops_ibm.testing.iam import FakeIAM
    from lithops_ibm.testing.vpc import FakeVPC

    with local_vms.namespace_hosts(folder) as network, MotoServer(subprocess=True) as moto, \
            FakeIAM({"local-key"}) as iam, BearerCOS(None, moto.url, network.gateway) as public, \
            BearerCOS(iam, moto.url, network.gateway, hmac=True) as private, FakeVPC(iam, network) as vpc:
        vpc.trusted_profiles.add("local-profile")
        yield {
            "ibm": {"iam_api_key": "local-key", "iam_endpoint": iam.url},
            # the hosts' Python stands for the image's; the agent's files go under the temporary folder
            "ibm_vpc": {"endpoint": f"{vpc.url}/v1", "trusted_profile_id": "local-profile", "max_workers": 2,
                        "runtime": sys.executable, "install_dir": f"{folder}/vms"},
            "ibm_cos": {"endpoint": public.url, "private_endpoint": private.url, "access_key_id": "local",
                        "secret_access_key": "local"},
        }


def main():
    parser = local_vms.vm_arguments(__doc__, "IBM Cloud")
    parser.add_argument("--region", default="us-south")
    args = parser.parse_args()

    cloud = {
        "ibm": {"iam_api_key": os.environ.get("IBM_API_KEY")},
        "ibm_vpc": {"trusted_profile_id": os.environ.get("TRUSTED_PROFILE")},
        "ibm_cos": {"access_key_id": os.environ.get("COS_KEY_ID"), "secret_access_key": os.environ.get("COS_SECRET")},
    }
    with tempfile.TemporaryDirectory() as folder, \
            local_ibm(folder) if args.local else contextlib.nullcontext(cloud) as sections:
        config = {
            "lithops": {"backend": "ibm_vpc", "storage": "ibm_cos"},
            "ibm": {"region": args.region, **sections["ibm"]},
            "ibm_vpc": {"exec_mode": args.exec_mode, **sections["ibm_vpc"]},
            "ibm_cos": sections["ibm_cos"],  # no storage_bucket: lithops-<region>-<hash>, created with HMAC keys
        }
        storage = lithops.Storage(config=config)
        prefix = cloud_demo.put_texts(storage, storage.bucket)
        with lithops.FunctionExecutor(config=config) as fexec:
            cloud_demo.run_demo(fexec, f"cos://{storage.bucket}/{prefix}")


if __name__ == "__main__":
    main()
