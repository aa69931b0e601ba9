#!/usr/bin/env python
"""The code_engine serverless path, end to end on this machine: N no-op calls through the local Code Engine API
(job runs whose array indices run the real entry point as local processes) and ibm_cos on moto's S3 server.

Reports calls submitted per second from the client, the time from the last call finishing to ``get_result``
returning, and how many storage requests the client made while waiting (status listings must not grow with N:
one listing per job per poll). The measuring is serverless_bench.py's. Needs
lithops-core, lithops-ibm, lithops-aws (its moto test kit) and ``moto[server]``; see benchmarks/README.md.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import serverless_bench


def main() -> int:
    parser = serverless_bench.parser(__doc__.splitlines()[0])
    parser.add_argument("--max-workers", type=int, default=8,
                        help="array indices per job run (code_engine.max_workers; default 8: each index is a "
                             "Python process on this machine)")
    parser.add_argument("--concurrency", type=int, default=4, help="instances that run at once (default 4)")
    args = parser.parse_args()
    serverless_bench.use_empty_config()

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
            rows.append(serverless_bench.measure(config, n, args.repeat, "submitted per second from the client"))
            print(f"  Code Engine API requests             {(len(api.requests) - before) / args.repeat:10.0f} per run "
                  f"(job run creation and status reads)")
    serverless_bench.write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
