#!/usr/bin/env python
"""The aws_lambda serverless path, end to end on this machine: N no-op calls through the local Lambda Invoke service
(real handler, warm sandboxes) and moto's S3 server.

Reports calls invoked per second from the client, the time from the last call finishing to ``get_result``
returning, and how many storage requests the client made while waiting (status listings must not grow with N:
one listing per job per poll). Needs lithops-core, lithops-aws and ``moto[server]``; see benchmarks/README.md.
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


def noop(x: Any) -> Any:
    return x


def run_once(config: dict[str, Any], n: int) -> dict[str, Any]:
    import lithops

    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        fexec.map(noop, range(8)).get_result()  # function deployed, sandboxes warm
        before = fexec.monitor.storage_requests
        start = time.time()
        futures = fexec.map(noop, range(n))
        submitted = time.time()
        results = fexec.get_result(futures)
        done = time.time()
        assert results == list(range(n))
        requests = fexec.monitor.storage_requests - before
        last_end = max(f.stats["worker_end_tstamp"] for f in futures)
        first_start = min(f.stats["worker_start_tstamp"] for f in futures)
        interval = float(config["lithops"]["monitoring_interval"])
    reads = 2 * n  # one status.json and one output.pickle per call
    listings = requests - reads
    wait_time = done - submitted
    return {
        "calls": n,
        "submit_s": submitted - start,
        "invoked_per_s": n / (submitted - start),
        "total_s": done - start,
        "first_start_after_submit_s": first_start - start,
        "last_finish_to_get_result_s": done - last_end,
        "storage_requests": requests,
        "status_listings": listings,
        "listings_per_poll_interval": listings / max(wait_time / interval, 1.0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1000", help="comma-separated numbers of calls (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; medians are shown (default 3)")
    parser.add_argument("--concurrency", type=int, default=4, help="sandboxes that run at once (default 4)")
    parser.add_argument("--interval", type=float, default=0.5, help="lithops.monitoring_interval (default 0.5)")
    parser.add_argument("--json", help="also write every run to this file")
    args = parser.parse_args()

    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        os.environ.setdefault(k, v)
    if "LITHOPS_CONFIG_FILE" not in os.environ:
        empty = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        empty.close()
        os.environ["LITHOPS_CONFIG_FILE"] = empty.name

    import boto3

    from lithops_aws.testing.lambda_server import LocalLambdaServer
    from lithops_aws.testing.moto_server import MotoServer

    rows: list[dict[str, Any]] = []
    with MotoServer(subprocess=True) as moto, LocalLambdaServer(moto.url, concurrency=args.concurrency) as server:
        bucket = f"lithops-bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket=bucket)
        config = {
            "lithops": {"backend": "aws_lambda", "storage": "aws_s3", "monitoring_interval": args.interval},
            "aws_lambda": {"endpoint": server.url, "iam_endpoint": moto.url, "sts_endpoint": moto.url,
                           "runtime_memory": 256,
                           "runtime_timeout": 300, "invoke_pool_threads": 32},
            "aws_s3": {"endpoint": moto.url, "storage_bucket": bucket, "region": "us-east-1"},
        }
        print(f"local Lambda service: {args.concurrency} concurrent sandboxes; moto S3 server; "
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
        print(f"\nserver: {server.stats}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
