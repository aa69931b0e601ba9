#!/usr/bin/env python
"""The vm backend on two SSH hosts of this machine (network namespaces, each with its own sshd).

Measures, with localhost storage in a folder the hosts share with this machine:

1. time from ``FunctionExecutor()`` to the first result on fresh hosts (code upload and agent start included);
2. the same on warm hosts (their agents already running: no SSH at all);
3. 1,000 no-op calls (``map`` + ``get_result``), warm;
4. 40 CPU-bound calls of 0.25 s, against the ideal ``40 * 0.25 / CPUs`` (the hosts share this machine's CPUs).

Needs root, ``ip netns`` and ``/usr/sbin/sshd``, and lithops-core, lithops-localhost and lithops-vm installed.
``python benchmarks/bench_vm.py [--repeat N] [--json PATH]``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any


def noop(x: Any) -> Any:
    return x


def busy(seconds: float) -> float:
    """Spin the CPU for about ``seconds``."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds


def first_result(config: dict[str, Any]) -> float:
    import lithops

    start = time.perf_counter()
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        fexec.call_async(noop, 1).result()
        return time.perf_counter() - start


def timed_map(config: dict[str, Any], func: Any, data: list[Any]) -> float:
    import lithops

    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        fexec.map(noop, range(8)).get_result()  # warm
        start = time.perf_counter()
        fexec.map(func, data).get_result()
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians reported)")
    parser.add_argument("--json", help="also write every run to this file")
    parser.add_argument("--monitoring-interval", type=float,
                        help="lithops.monitoring_interval: seconds between status polls (default: the config's, 2)")
    args = parser.parse_args()
    from lithops_vm.testing.netns import HostNetwork, unavailable_reason, vm_config

    reason = unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    folder = tempfile.mkdtemp(prefix="bench-vm-")
    os.chmod(folder, 0o700)
    empty = os.path.join(folder, "empty.yaml")
    open(empty, "w").close()
    os.environ.setdefault("LITHOPS_CONFIG_FILE", empty)
    network = HostNetwork(folder)
    runs: dict[str, list[float]] = {"fresh": [], "warm": [], "noop_1000": [], "cpu_40x0.25": []}
    try:
        network.add_host()
        network.add_host()
        for n in range(args.repeat):
            shared = os.path.join(folder, f"run{n}")
            os.makedirs(shared, mode=0o700)
            config = vm_config(network, shared, worker_processes="AUTO")
            if args.monitoring_interval:
                config["lithops"]["monitoring_interval"] = args.monitoring_interval
            runs["fresh"].append(first_result(config))
            runs["warm"].append(first_result(config))
            runs["noop_1000"].append(timed_map(config, noop, list(range(1000))))
            runs["cpu_40x0.25"].append(timed_map(config, busy, [0.25] * 40))
            for host in network.hosts:  # the next run starts on fresh hosts
                host.halt()
    finally:
        network.close()
    cpus = os.cpu_count() or 1
    ideal = 40 * 0.25 / cpus
    print(f"vm backend, 2 namespace hosts sharing {cpus} CPUs, worker_processes AUTO, monitoring_interval "
          f"{args.monitoring_interval or 'default'}; median of {args.repeat}; load average at the end: "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'measurement':<44}{'median s':>10}")
    labels = {"fresh": "FunctionExecutor() to first result, fresh", "warm": "FunctionExecutor() to first result, warm",
              "noop_1000": "1,000 no-op calls (warm)", "cpu_40x0.25": f"40 x 0.25 s CPU calls (ideal {ideal:.2f} s)"}
    for key, label in labels.items():
        print(f"{label:<44}{statistics.median(runs[key]):>10.2f}")
    print(f"{'CPU calls / ideal':<44}{statistics.median(runs['cpu_40x0.25']) / ideal:>10.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"cpus": cpus, "ideal_cpu_s": ideal, "runs": runs}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
