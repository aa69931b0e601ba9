#!/usr/bin/env python
"""The azure_containers serverless path, end to end on this machine: N no-op calls delivered through an Azurite
queue to replicas running the real replica code as local processes, with azure_storage on Azurite and the Container
App deployed through azure-mgmt-appcontainers to the local Resource Manager.

Reports calls sent per second from the client, the time from the last call finishing to ``get_result`` returning,
and how many storage requests the client made while waiting (status listings must not grow with N: one listing per
job per poll). The measuring is serverless_bench.py's. Needs lithops-core, lithops-azure and node's
Azurite (``npm install --prefix ~/.cache/lithops-azurite azurite@3.35.0``); see benchmarks/README.md.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import serverless_bench


def main() -> int:
    parser = serverless_bench.parser(__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=4, help="replica processes taking messages (default 4)")
    parser.add_argument("--max-workers", type=int, default=16,
                        help="messages per job (azure_containers.max_workers; default 16)")
    args = parser.parse_args()
    serverless_bench.use_empty_config()

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
                rows.append(serverless_bench.measure(config, n, args.repeat, "sent per second from the client"))
                print(f"  Resource Manager requests            "
                      f"{(len(arm.requests) - before) / args.repeat:10.0f} per run "  # type: ignore[attr-defined]
                      f"(the app is read once per executor)")
        finally:
            platform.stop()
    serverless_bench.write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
