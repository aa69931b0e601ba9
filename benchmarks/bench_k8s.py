#!/usr/bin/env python
"""The k8s backend end to end on this machine: N no-op calls as one indexed Job on the local fake Kubernetes API
server (lithops_kubernetes.testing), whose pods are local processes running the real entry point, with localhost
storage.

Reports calls submitted per second from the client (one Job, not N), the time from the last call finishing to
``get_result`` returning, and the Kubernetes API requests the backend made while waiting: per poll they must not
grow with N (one Job listing and one pod listing per poll, whatever the number of calls). Needs lithops-core,
lithops-localhost and lithops-kubernetes; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any


def noop(x: Any) -> Any:
    return x


def run_once(cluster: Any, config: dict[str, Any], n: int) -> dict[str, Any]:
    import lithops

    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        fexec.map(noop, range(4)).get_result()  # the runtime's metadata is checked once per executor
        first = len(cluster.requests)
        start = time.time()
        futures = fexec.map(noop, range(n))
        submitted = time.time()
        before = len(cluster.requests)
        creates = sum(1 for method, path in cluster.requests[first:before]
                      if method == "POST" and path.endswith("/jobs"))
        results = fexec.get_result(futures)
        done = time.time()
        waiting = cluster.requests[before:]
        assert results == list(range(n))
        last_end = max(f.stats["worker_end_tstamp"] for f in futures)
        interval = fexec.compute.watch_interval
    wait_time = done - submitted
    return {
        "calls": n,
        "submit_s": submitted - start,
        "submitted_per_s": n / (submitted - start),
        "total_s": done - start,
        "last_finish_to_get_result_s": done - last_end,
        "api_requests_waiting": len(waiting),
        "api_requests_per_poll": len(waiting) / max(wait_time / interval, 1.0),
        "jobs_created": creates,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="100,1000", help="comma-separated numbers of calls (default 100,1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; medians are shown (default 3)")
    parser.add_argument("--max-workers", type=int, default=4, help="k8s.max_workers: pods of the Job (default 4)")
    parser.add_argument("--interval", type=float, default=0.5, help="lithops.monitoring_interval (default 0.5)")
    args = parser.parse_args()

    if "LITHOPS_CONFIG_FILE" not in os.environ:
        empty = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        empty.close()
        os.environ["LITHOPS_CONFIG_FILE"] = empty.name

    from lithops.backends.runtime import CLIENT_PYTHON
    from lithops_kubernetes.testing import FakeKubernetes

    image = f"registry.example.com/lithops/bench:py{CLIENT_PYTHON}"
    folder = tempfile.mkdtemp(prefix="bench-k8s-")
    with FakeKubernetes(images={image: sys.executable}) as cluster:
        config = {
            "lithops": {"backend": "k8s", "storage": "localhost", "monitoring_interval": args.interval},
            "localhost": {"storage_root": os.path.join(folder, "storage"), "storage_bucket": "bench"},
            "k8s": {"kubecfg_path": cluster.write_kubeconfig(os.path.join(folder, "kubeconfig")), "runtime": image,
                    "max_workers": args.max_workers},
        }
        print(f"fake cluster: Jobs of {args.max_workers} pods (local processes); localhost storage; "
              f"monitoring_interval {args.interval} s; load average {os.getloadavg()[0]:.2f}")
        for n in (int(x) for x in args.calls.split(",")):
            runs = [run_once(cluster, config, n) for _ in range(args.repeat)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"\n{n} no-op calls (median of {len(runs)} runs)")
            print(f"  submitted per second from the client {med['submitted_per_s']:10.0f} calls/s "
                  f"(submit took {med['submit_s']:.3f} s; {med['jobs_created']:.0f} Job)")
            print(f"  whole map, submit to get_result      {med['total_s']:10.2f} s")
            print(f"  last call finished -> get_result     {med['last_finish_to_get_result_s']:10.3f} s")
            print(f"  API requests while waiting           {med['api_requests_waiting']:10.0f} "
                  f"({med['api_requests_per_poll']:.2f} per poll interval: flat in N)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
