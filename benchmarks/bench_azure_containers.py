#!/usr/bin/env python
"""The azure_containers serverless path, end to end on this machine: N no-op calls delivered through an Azurite
queue to replicas running the real replica code as local processes, with azure_storage on Azurite and the Container
App deployed through azure-mgmt-appcontainers to the local Resource Manager.

Reports calls sent per second from the client, the time from the last call finishing to ``get_result`` returning,
and how many storage requests the client made while waiting (status listings must not grow with N: one listing per
job per poll). The measuring is bench_aws_lambda.py's ``run_once``. Needs lithops-core, lithops-azure and node's
Azurite (``npm install --prefix ~/.cache/lithops-azurite azurite@3.35.0``); see benchmarks/README.md.
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
    parser.add_argument("--replicas", type=int, default=4, help="replica processes taking messages (default 4)")
    parser.add_argument("--max-workers", type=int, default=16,
                        help="messages per job (azure_containers.max_workers; default 16)")
    parser.add_argument("--interval", type=float, default=0.5, help="lithops.monitoring_interval (default 0.5)")
    parser.add_argument("--json", help="also write every run to this file")
    args = parser.parse_args()
    if "LITHOPS_CONFIG_FILE" not in os.environ:
        empty = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        empty.close()
        os.environ["LITHOPS_CONFIG_FILE"] = empty.name

    from lithops_azure.blob.storage import AzureBlobStorage
    from lithops_azure.testing.arm_fake import FakeArm
    from lithops_azure.testing.azurite import Azurite
    from lithops_azure.testing.container_apps import LocalContainerApps

    rows: list[dict[str, Any]] = []
    with Azurite() as azurite, FakeArm(polls=1) as arm:  # type: ignore[attr-defined]
        platform = LocalContainerApps(arm, replicas=args.replicas)  # type: ignore[arg-type]
        try:
            arm.add_environment("bench-rg", "bench-env")  # type: ignore[attr-defined]
            bucket = f"lithops-bench-{uuid.uuid4().hex[:8]}"
            AzureBlobStorage({"connection_string": azurite.connection_string}).create_bucket(bucket)
            config = {
                "lithops": {"backend": "azure_containers", "storage": "azure_storage",
                            "monitoring_interval": args.interval},
                "azure": {"subscription_id": arm.subscription, "resource_group": "bench-rg",  # type: ignore
                          "region": "westeurope", "arm_endpoint": arm.url, "access_token": arm.token},  # type: ignore
                "azure_storage": {"connection_string": azurite.connection_string, "storage_bucket": bucket},
                "azure_containers": {"environment": "bench-env", "runtime": "lithops-bench:1",
                                     "max_workers": args.max_workers},
            }
            print(f"Azurite queue and blobs; {args.replicas} local replicas; {args.max_workers} messages per job; "
                  f"monitoring_interval {args.interval} s; load average {os.getloadavg()[0]:.2f}")
            for n in (int(x) for x in args.calls.split(",")):
                before = len(arm.requests)  # type: ignore[attr-defined]
                runs = [run_once(config, n) for _ in range(args.repeat)]
                rows.append({"calls": n, "runs": runs})
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(f"\n{n} no-op calls (median of {len(runs)} runs)")
                print(f"  sent per second from the client      {med['invoked_per_s']:10.0f} calls/s "
                      f"(submit took {med['submit_s']:.2f} s)")
                print(f"  whole map, submit to get_result      {med['total_s']:10.2f} s")
                print(f"  last call finished -> get_result     {med['last_finish_to_get_result_s']:10.3f} s")
                print(f"  storage requests while waiting       {med['storage_requests']:10.0f} "
                      f"(2 per call for status and output, {med['status_listings']:.0f} status listings)")
                print(f"  status listings per poll interval    {med['listings_per_poll_interval']:10.2f} "
                      f"(one job: 1.00 means one listing per poll, whatever N)")
                print(f"  Resource Manager requests            "
                      f"{(len(arm.requests) - before) / len(runs):10.0f} per run "  # type: ignore[attr-defined]
                      f"(the app is read once per executor)")
        finally:
            platform.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
