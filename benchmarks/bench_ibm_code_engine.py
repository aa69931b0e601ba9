#!/usr/bin/env python
"""The code_engine serverless path, end to end on this machine: N no-op calls through the local Code Engine API
(job runs whose array indices run the real entry point as local processes) and ibm_cos on moto's S3 server.

Reports calls submitted per second from the client, the time from the last call finishing to ``get_result``
returning, and how many storage requests the client made while waiting (status listings must not grow with N:
one listing per job per poll). The measuring is bench_aws_lambda.py's ``run_once``, shared by both. Needs
lithops-core, lithops-ibm, lithops-aws (its moto test kit) and ``moto[server]``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import uuid
from typing import Any

from bench_aws_lambda import run_once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1000", help="comma-separated numbers of calls (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; medians are shown (default 3)")
    parser.add_argument("--max-workers", type=int, default=8,
                        help="array indices per job run (code_engine.max_workers; default 8: each index is a "
                             "Python process on this machine)")
    parser.add_argument("--concurrency", type=int, default=4, help="instances that run at once (default 4)")
    parser.add_argument("--interval", type=float, default=0.5, help="lithops.monitoring_interval (default 0.5)")
    parser.add_argument("--json", help="also write every run to this file")
    args = parser.parse_args()
    if "LITHOPS_CONFIG_FILE" not in os.environ:
        empty = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        empty.close()
        os.environ["LITHOPS_CONFIG_FILE"] = empty.name

    from lithops_aws.testing.moto_server import MotoServer
    from lithops_ibm.cos.storage import COSStorage
    from lithops_ibm.testing.code_engine import FakeCodeEngine
    from lithops_ibm.testing.iam import FakeIAM

    hmac = {"access_key_id": "bench", "secret_access_key": "bench"}
    rows: list[dict[str, Any]] = []
    with MotoServer(subprocess=True) as moto, FakeIAM({"bench-key"}) as iam, \
            FakeCodeEngine(iam, concurrency=args.concurrency) as api:  # type: ignore[attr-defined]
        bucket = f"lithops-bench-{uuid.uuid4().hex[:8]}"
        COSStorage({"endpoint": moto.url, **hmac}).create_bucket(bucket)
        config = {
            "lithops": {"backend": "code_engine", "storage": "ibm_cos", "monitoring_interval": args.interval},
            "ibm": {"iam_api_key": "bench-key", "iam_endpoint": iam.url, "region": "us-south"},
            "code_engine": {"endpoint": f"{api.url}/v2", "runtime": "docker.io/lithops/bench:1",
                            "max_workers": args.max_workers, "runtime_timeout": 600},
            "ibm_cos": {"endpoint": moto.url, "storage_bucket": bucket, **hmac},
        }
        print(f"local Code Engine API: {args.concurrency} instances at once, {args.max_workers} indices per job run; "
              f"moto S3 server; monitoring_interval {args.interval} s; load average {os.getloadavg()[0]:.2f}")
        for n in (int(x) for x in args.calls.split(",")):
            before = len(api.requests)
            runs = [run_once(config, n) for _ in range(args.repeat)]
            rows.append({"calls": n, "runs": runs})
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"\n{n} no-op calls (median of {len(runs)} runs)")
            print(f"  submitted per second from the client {med['invoked_per_s']:10.0f} calls/s "
                  f"(submit took {med['submit_s']:.2f} s)")
            print(f"  whole map, submit to get_result      {med['total_s']:10.2f} s")
            print(f"  last call finished -> get_result     {med['last_finish_to_get_result_s']:10.3f} s")
            print(f"  storage requests while waiting       {med['storage_requests']:10.0f} "
                  f"(2 per call for status and output, {med['status_listings']:.0f} status listings)")
            print(f"  status listings per poll interval    {med['listings_per_poll_interval']:10.2f} "
                  f"(one job: 1.00 means one listing per poll, whatever N)")
            print(f"  Code Engine API requests             {(len(api.requests) - before) / len(runs):10.0f} per run "
                  f"(job run creation and status reads)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
