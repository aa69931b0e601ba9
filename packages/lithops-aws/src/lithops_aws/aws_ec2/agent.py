"""The agent of Lithops' EC2 worker VMs: ``python3 -m lithops_aws.aws_ec2.agent``.

It polls its queue in storage (``<queue_prefix><instance id>/queue/``) about once a second, claims each payload by
deleting its object, and runs it as ``python -m lithops.worker -`` (``worker_processes`` at once, default one per
CPU). A worker process that dies (out of memory, killed) gets ``WorkerDiedError`` statuses for its unfinished
calls. After ``soft_dismantle_timeout`` seconds without work (or ``hard_dismantle_timeout`` in all) it powers the
VM off, unless ``LITHOPS_AGENT_NO_SHUTDOWN`` is set, when it just exits (tests).

Config: the JSON file ``LITHOPS_AGENT_CONFIG_FILE`` (written by the VM's user data) or ``LITHOPS_AGENT_CONFIG``.
The instance id comes from ``LITHOPS_INSTANCE_ID`` or the instance metadata service.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger("lithops_aws.agent")
_IMDS = "http://169.254.169.254/latest"


def instance_id() -> str:
    """The instance id of this VM (IMDSv2)."""
    if os.environ.get("LITHOPS_INSTANCE_ID"):
        return os.environ["LITHOPS_INSTANCE_ID"]
    token_req = urllib.request.Request(f"{_IMDS}/api/token", method="PUT",
                                       headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    token = urllib.request.urlopen(token_req, timeout=5).read().decode()
    req = urllib.request.Request(f"{_IMDS}/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token})
    return str(urllib.request.urlopen(req, timeout=5).read().decode())


def load_config() -> dict[str, Any]:
    """The agent config written by the client."""
    path = os.environ.get("LITHOPS_AGENT_CONFIG_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return dict(json.load(f))
    return dict(json.loads(os.environ["LITHOPS_AGENT_CONFIG"]))


class Agent:
    """Runs the payloads queued for one VM."""

    def __init__(self, config: dict[str, Any], instance: str) -> None:
        from lithops.plugins.specs import import_object

        spec = config["storage"]
        self.storage = import_object(spec["backend"])(spec["config"])
        self.storage.name = spec["name"]
        self.bucket = spec["bucket"]
        self.queue = f"{config['queue_prefix']}{instance}/queue/"
        # worker_processes null: one per CPU of the VM; the other keys are always set by EC2Backend.agent_config
        self.parallelism = int(config["worker_processes"] or os.cpu_count() or 1)
        self.soft = float(config["soft_dismantle_timeout"])
        self.hard = float(config["hard_dismantle_timeout"])
        self.auto = bool(config["auto_dismantle"])
        self.running = 0
        self._lock = threading.Lock()

    def run_payload(self, payload: dict[str, Any]) -> None:
        """Run one payload in a worker process; account for its calls if the process dies."""
        from lithops.errors import WorkerDiedError
        from lithops.job.job import job_key
        from lithops.worker.invocation import fail_unfinished

        start = time.time()
        try:
            proc = subprocess.run([sys.executable, "-m", "lithops.worker", "-"], input=json.dumps(payload).encode(),
                                  capture_output=True)
            if proc.returncode != 0:
                code = proc.returncode
                why = (f"was killed by signal {-code} (out of memory?)" if code < 0
                       else f"exited with code {code}: {proc.stderr.decode(errors='replace')[-500:]}")
                key = job_key(payload["executor_id"], payload["job_id"])
                error = WorkerDiedError(f"the worker process of job {key} on this VM {why}. Use a larger "
                                        f"worker_instance_type if it ran out of memory.")
                fail_unfinished(payload, error, start)
        finally:
            with self._lock:
                self.running -= 1

    def poll(self, pool: ThreadPoolExecutor) -> int:
        """Claim and start the queued payloads; return how many."""
        started = 0
        for key in self.storage.list_keys(self.bucket, self.queue):
            try:
                data = self.storage.get_object(self.bucket, key)
            except KeyError:  # claimed already
                continue
            self.storage.delete_object(self.bucket, key)
            with self._lock:
                self.running += 1
            pool.submit(self.run_payload, json.loads(data))
            started += 1
        return started

    def serve(self, interval: float = 1.0) -> str:
        """Run until idle for ``soft`` seconds or alive for ``hard``; return why it stopped."""
        born = last_work = time.monotonic()
        with ThreadPoolExecutor(self.parallelism) as pool:
            while True:
                try:
                    if self.poll(pool):
                        last_work = time.monotonic()
                except Exception as exc:  # storage hiccup: try again
                    logger.warning("poll failed: %s", exc)
                with self._lock:
                    busy = self.running > 0
                if busy:
                    last_work = time.monotonic()
                now = time.monotonic()
                if self.auto and not busy and now - last_work > self.soft:
                    return "idle"
                if self.auto and now - born > self.hard:
                    return "hard timeout"
                time.sleep(interval)


def main() -> int:
    """Serve this VM's queue, then power the VM off (or exit with ``LITHOPS_AGENT_NO_SHUTDOWN``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    agent = Agent(load_config(), instance_id())
    reason = agent.serve(float(os.environ.get("LITHOPS_AGENT_POLL_INTERVAL") or 1.0))
    logger.info("stopping: %s", reason)
    if not os.environ.get("LITHOPS_AGENT_NO_SHUTDOWN"):
        subprocess.run(["shutdown", "-h", "now"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
