#!/usr/bin/env python
"""The gcp_cloudrun serverless path, end to end on this machine: N no-op calls through the fake Cloud Run Admin API
(its service runs our real Cloud Run entry point as a local process, reached with an identity token header) and
gcp-storage-emulator.

Reports calls invoked per second from the client, the time from the last call finishing to ``get_result``
returning, and how many storage requests the client made while waiting (status listings must not grow with N:
one listing per job per poll). Needs lithops-core, lithops-gcp and gcp-storage-emulator; see benchmarks/README.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid

import serverless_bench

PROJECT, REGION = "lithops-bench", "us-east1"


def main() -> int:
    parser = serverless_bench.parser(__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="gcp_cloudrun.max_workers: requests at once (8)")
    args = parser.parse_args()

    os.environ.setdefault("NO_GCE_CHECK", "True")
    os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    os.environ["CLOUDSDK_CONFIG"] = tempfile.mkdtemp(prefix="lithops-bench-gcloud-")
    serverless_bench.use_empty_config()

    from lithops_gcp import __version__
    from lithops_gcp.gcp_cloudrun.services import default_runtime_name
    from lithops_gcp.gcs.storage import GCSStorage
    from lithops_gcp.testing.emulators import StorageEmulator
    from lithops_gcp.testing.fake_run import FakeCloudRun

    emulator = StorageEmulator().start()
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://{emulator.host}"  # the service's process inherits it
    try:
        with FakeCloudRun(PROJECT, [REGION]) as api:
            api.push_image(f"{REGION}-docker.pkg.dev/{PROJECT}/lithops/{default_runtime_name()}:{__version__}")
            bucket = f"lithops-bench-{uuid.uuid4().hex[:8]}"
            GCSStorage({"project_name": PROJECT, "region": REGION}).create_bucket(bucket)
            config = {
                "lithops": {"backend": "gcp_cloudrun", "storage": "gcp_storage", "monitoring_interval": args.interval},
                "gcp": {"project_name": PROJECT, "region": REGION},
                "gcp_cloudrun": {"api_endpoint": api.url, "runtime_timeout": 600, "max_workers": args.workers},
                "gcp_storage": {"storage_bucket": bucket},
            }
            print(f"fake Cloud Run service (one local process, max_workers {args.workers}); gcp-storage-emulator; "
                  f"monitoring_interval {args.interval} s; load average {os.getloadavg()[0]:.2f}")
            rows = serverless_bench.measure_all(config, args)
            print(f"\nrequests to the service: {api.invocations}")
    finally:
        emulator.stop()
    serverless_bench.write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
