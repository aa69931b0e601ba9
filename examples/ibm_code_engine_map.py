"""map, map_reduce and a data map on IBM Cloud Code Engine with Cloud Object Storage, with the same executor API as
on this machine.

On IBM Cloud (an IAM API key; COS HMAC keys of a service credential; a registry namespace for the runtime image):

    pip install ./packages/lithops-core ./packages/lithops-ibm
    lithops runtime build -b code_engine        # once, with docker/podman/buildah (see docs/backends/ibm.md)
    IBM_API_KEY=... COS_KEY_ID=... COS_SECRET=... DOCKER_USER=... DOCKER_PASSWORD=... \
        python examples/ibm_code_engine_map.py --region us-south

Without an IBM Cloud account, against the local stand-ins the tests use (moto's S3 server, a local IAM token
service and a local Code Engine API whose job runs run here; needs lithops-aws and `pip install 'moto[server]'`):

    python examples/ibm_code_engine_map.py --local
"""

import argparse
import contextlib
import os

import cloud_demo
import lithops


@contextlib.contextmanager
def local_services():
    from lithops_aws.testing.moto_server import MotoServer
    from lithops_ibm.testing.code_engine import FakeCodeEngine
    from lithops_ibm.testing.iam import FakeIAM

    with MotoServer(subprocess=True) as moto, FakeIAM({"local-key"}) as iam, FakeCodeEngine(iam) as api:
        yield {"ibm": {"iam_api_key": "local-key", "iam_endpoint": iam.url},
               "code_engine": {"endpoint": f"{api.url}/v2", "runtime": "docker.io/local/lithops-ce:1",
                               "max_workers": 4},
               "ibm_cos": {"endpoint": moto.url, "access_key_id": "local", "secret_access_key": "local"}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="us-south")
    parser.add_argument("--local", action="store_true", help="use local stand-ins instead of IBM Cloud")
    args = parser.parse_args()

    cloud = {
        "ibm": {"iam_api_key": os.environ.get("IBM_API_KEY")},
        "code_engine": {"docker_user": os.environ.get("DOCKER_USER"),
                        "docker_password": os.environ.get("DOCKER_PASSWORD")},
        "ibm_cos": {"access_key_id": os.environ.get("COS_KEY_ID"), "secret_access_key": os.environ.get("COS_SECRET")},
    }
    with local_services() if args.local else contextlib.nullcontext(cloud) as sections:
        config = {
            "lithops": {"backend": "code_engine", "storage": "ibm_cos"},
            "ibm": {"region": args.region, **sections["ibm"]},
            "code_engine": sections["code_engine"],
            "ibm_cos": sections["ibm_cos"],  # no storage_bucket: lithops-<region>-<hash>, created with HMAC keys
        }
        storage = lithops.Storage(config=config)
        prefix = cloud_demo.put_texts(storage, storage.bucket)
        with lithops.FunctionExecutor(config=config) as fexec:
            cloud_demo.run_demo(fexec, f"cos://{storage.bucket}/{prefix}")


if __name__ == "__main__":
    main()
