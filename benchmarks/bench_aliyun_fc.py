#!/usr/bin/env python
"""The aliyun_fc serverless path, end to end on this machine: N no-op calls through the local Function Compute 3.0
API (real handler in local instance processes, asynchronous invocations) and the local OSS service.

Reports calls invoked per second from the client, the time from the last call finishing to ``get_result``
returning, and how many storage requests the client made while waiting (status listings must not grow with N:
one listing per job per poll). Needs lithops-core and lithops-aliyun; see benchmarks/README.md.
"""

from __future__ import annotations

import os
import sys
import uuid

import serverless_bench

REGION, ACCOUNT = "cn-hangzhou", "1234567890123456"
KEY_ID, KEY_SECRET = "LTAIbenchKey", "bench-secret"
IMAGE = "registry.cn-hangzhou.aliyuncs.com/lithops-bench/lithops-fc:1"


def main() -> int:
    parser = serverless_bench.parser(__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=4, help="instances that run at once (default 4)")
    args = parser.parse_args()

    # set before the Alibaba SDKs are imported: their credential library reads these once
    os.environ.update({"ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
                       "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"})
    serverless_bench.use_empty_config()

    from lithops_aliyun.oss.storage import OSSStorage
    from lithops_aliyun.testing.fc_server import LocalFCServer
    from lithops_aliyun.testing.oss_server import LocalOSSServer

    with LocalFCServer({KEY_ID: KEY_SECRET}, ACCOUNT, region=REGION, images=(IMAGE,),
                       instance_limit=args.instances) as fc, LocalOSSServer({KEY_ID: KEY_SECRET}, region=REGION) as oss:
        bucket = f"lithops-bench-{uuid.uuid4().hex[:8]}"
        OSSStorage({"endpoint": oss.url, "region": REGION}).create_bucket(bucket)
        config = {
            "lithops": {"backend": "aliyun_fc", "storage": "aliyun_oss", "monitoring_interval": args.interval},
            "aliyun": {"region": REGION, "account_id": ACCOUNT},
            "aliyun_fc": {"endpoint": fc.url, "deploy_mode": "custom-container", "runtime": IMAGE,
                          "role_arn": f"acs:ram::{ACCOUNT}:role/lithops-fc-role", "runtime_memory": 512,
                          "runtime_timeout": 300, "invoke_pool_threads": 32},
            "aliyun_oss": {"endpoint": oss.url, "storage_bucket": bucket},
        }
        print(f"local FC 3.0 API: {args.instances} instances at once; local OSS; monitoring_interval "
              f"{args.interval} s; load average {os.getloadavg()[0]:.2f}")
        rows = serverless_bench.measure_all(config, args)
        print(f"\nFC: {len(fc.async_results)} asynchronous invocations run, at most {fc.peak_instances} "
              f"instances at once")
    serverless_bench.write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
