"""map, map_reduce and a data map on Cloud Run with Cloud Storage, with the same executor API as on this machine.

On Google Cloud (after the set-up steps of docs/backends/gcp.md; credentials from GOOGLE_APPLICATION_CREDENTIALS or
'gcloud auth application-default login'):

    pip install ./packages/lithops-core ./packages/lithops-gcp
    lithops runtime build -b gcp_cloudrun default-runtime-v311     # once, for Python 3.11
    python examples/gcp_cloudrun_map.py --project my-project --region us-east1 --bucket my-lithops-bucket

Without a Google account, against the local stand-ins the tests use (gcp-storage-emulator and a fake Cloud Run
Admin API whose service runs the real worker entry point; needs `pip install gcp-storage-emulator`):

    python examples/gcp_cloudrun_map.py --local

The first run deploys the runtime's Cloud Run service and waits until it is Ready.
"""

import argparse
import contextlib
import os
import tempfile

import cloud_demo
import lithops


@contextlib.contextmanager
def local_stand_ins(project, region):
    from lithops_gcp import __version__
    from lithops_gcp.gcp_cloudrun.services import default_runtime_name
    from lithops_gcp.testing.emulators import StorageEmulator
    from lithops_gcp.testing.fake_run import FakeCloudRun

    os.environ["NO_GCE_CHECK"] = "True"
    os.environ["CLOUDSDK_CONFIG"] = tempfile.mkdtemp(prefix="lithops-example-gcloud-")  # no credentials of yours
    emulator = StorageEmulator().start()
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://{emulator.host}"
    try:
        with FakeCloudRun(project, [region]) as api:
            # stands in for 'lithops runtime build': the image's containers run our entry point locally
            api.push_image(f"{region}-docker.pkg.dev/{project}/lithops/{default_runtime_name()}:{__version__}")
            yield {"api_endpoint": api.url}
    finally:
        emulator.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="lithops-example")
    parser.add_argument("--region", default="us-east1")
    parser.add_argument("--bucket", default="lithops-example-bucket")
    parser.add_argument("--local", action="store_true", help="use local stand-ins instead of Google Cloud")
    args = parser.parse_args()

    with local_stand_ins(args.project, args.region) if args.local else contextlib.nullcontext({}) as extra:
        config = {
            "lithops": {"backend": "gcp_cloudrun", "storage": "gcp_storage"},
            "gcp": {"project_name": args.project, "region": args.region},
            "gcp_cloudrun": {"runtime_memory": 512, **extra},
            "gcp_storage": {"storage_bucket": args.bucket},
        }
        storage = lithops.Storage(config=config)
        storage.create_bucket(args.bucket)
        prefix = cloud_demo.put_texts(storage, args.bucket)
        with lithops.FunctionExecutor(config=config) as fexec:
            cloud_demo.run_demo(fexec, f"gs://{args.bucket}/{prefix}")


if __name__ == "__main__":
    main()
