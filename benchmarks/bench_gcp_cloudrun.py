#!/usr/bin/env python
"""The gcp_cloudrun serverless path, end to end on this machine: N no-op calls through the fake Cloud Run Admin API
(its service runs our real Cloud Run entry point as a local process, reached with an identity token header) and
gcp-storage-emulator.

Reports calls invoked per second from the client, the time from the last call finishing to ``get_result``
returning, and how many storage requests the client made while waiting (status listings must not grow with N:
one listing per job per poll). Needs lithops-core, lithops-gcp and gcp-storage-emulator; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

PROJECT, REGION = "lithops-bench", "us-east1"


def noop(x: Any) -> Any:
    return x


def run_once(config: dict[str, Any], n: int) -> dict[str, Any]:
    import lithops

    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        fexec.map(noop, range(8)).get_result()  # service deployed and Ready, worker imports warm
        before = fexec.monitor.storage_requests
        start = time.time()
        futures = fexec.map(noop, range(n))
        submitted = time.time()
        results = fexec.get_result(futures)
        done = time.time()
        assert results == list(range(n))
        requests = fexec.monitor.storage_requests - before
        last_end = max(f.stats["worker_end_tstamp"] for f in futures)
        interval = float(config["lithops"]["monitoring_interval"])
    reads = 2 * n  # one status.json and one output.pickle per call
    listings = requests - reads
    return {
        "calls": n,
        "submit_s": submitted - start,
        "invoked_per_s": n / (submitted - start),
        "total_s": done - start,
        "last_finish_to_get_result_s": done - last_end,
        "storage_requests": requests,
        "status_listings": listings,
        "listings_per_poll_interval": listings / max((done - submitted) / interval, 1.0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1000", help="comma-separated numbers of calls (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; medians are shown (default 3)")
    parser.add_argument("--workers", type=int, default=8, help="gcp_cloudrun.max_workers: requests at once (8)")
    parser.add_argument("--interval", type=float, default=0.5, help="lithops.monitoring_interval (default 0.5)")
    parser.add_argument("--json", help="also write every run to this file")
    args = parser.parse_args()

    os.environ.setdefault("NO_GCE_CHECK", "True")
    os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    os.environ["CLOUDSDK_CONFIG"] = tempfile.mkdtemp(prefix="lithops-bench-gcloud-")
    if "LITHOPS_CONFIG_FILE" not in os.environ:
        empty = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        empty.close()
        os.environ["LITHOPS_CONFIG_FILE"] = empty.name

    from lithops_gcp import __version__
    from lithops_gcp.gcp_cloudrun.services import default_runtime_name
    from lithops_gcp.gcs.storage import GCSStorage
    from lithops_gcp.testing.emulators import StorageEmulator
    from lithops_gcp.testing.fake_run import FakeCloudRun

    rows: list[dict[str, Any]] = []
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
            for n in (int(x) for x in args.calls.split(",")):
                runs = [run_once(config, n) for _ in range(args.repeat)]
                rows.append({"calls": n, "runs": runs})
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(f"\n{n} no-op calls (median of {len(runs)} runs)")
                print(f"  invoked per second from the client   {med['invoked_per_s']:10.0f} calls/s "
                      f"(submit took {med['submit_s']:.2f} s)")
                print(f"  whole map, submit to get_result      {med['total_s']:10.2f} s")
                print(f"  last call finished -> get_result     {med['last_finish_to_get_result_s']:10.3f} s")
                print(f"  storage requests while waiting       {med['storage_requests']:10.0f} "
                      f"(2 per call for status and output, {med['status_listings']:.0f} status listings)")
                print(f"  status listings per poll interval    {med['listings_per_poll_interval']:10.2f} "
                      f"(one job: 1.00 means one listing per poll, whatever N)")
            print(f"\nrequests to the service: {api.invocations}")
    finally:
        emulator.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
