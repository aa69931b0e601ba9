#!/usr/bin/env python
"""The aws_lambda serverless path, end to end on this machine: N no-op calls through the local Lambda Invoke service
(real handler, warm sandboxes) and moto's S3 server.

Reports calls invoked per second from the client, the time from the last call finishing to ``get_result``
returning, and how many storage requests the client made while waiting (status listings must not grow with N:
one listing per job per poll). Needs lithops-core, lithops-aws and ``moto[server]``; see benchmarks/README.md.
"""

from __future__ import annotations

import os
import sys
import uuid

import serverless_bench


def main() -> int:
    parser = serverless_bench.parser(__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4, help="sandboxes that run at once (default 4)")
    args = parser.parse_args()

    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        os.environ.setdefault(k, v)
    serverless_bench.use_empty_config()

    import boto3

    from lithops_aws.testing.lambda_server import LocalLambdaServer
    from lithops_aws.testing.moto_server import MotoServer

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
        rows = serverless_bench.measure_all(config, args)
        print(f"\nserver: {server.stats}")
    serverless_bench.write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
