"""A storage-transport backend that starts each worker invocation as ``python -m lithops.worker PAYLOAD``.

It is what a serverless backend looks like to the kernel, minus the cloud: it proves that the documented
payload and status documents are all a worker needs.
"""

import json
import os
import subprocess
import sys
import tempfile

from lithops.backends import ComputeBackend
from lithops.plugins import ComputeBackendSpec, hookimpl


class SubprocessServerless(ComputeBackend):
    transport = "storage"

    def __init__(self, config, lithops_config, *, storage=None):
        super().__init__(config, lithops_config, storage=storage)
        self.procs = []
        self.payloads = []
        self.folder = tempfile.mkdtemp(prefix="lithops-sim-")

    def invoke(self, job, report):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p or os.getcwd() for p in sys.path))
        for n, call_ids in enumerate(job.chunks()):
            payload = job.worker_payload(call_ids)
            self.payloads.append(payload)
            path = os.path.join(self.folder, f"{job.job_key}-{n}.json")
            with open(path, "w") as f:
                json.dump(payload, f)
            self.procs.append(subprocess.Popen([sys.executable, "-m", "lithops.worker", path], env=env,
                                               stdout=subprocess.DEVNULL))

    def close(self):
        for p in self.procs:
            p.wait(timeout=60)


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(name="subprocess_serverless", mode="serverless",
                               backend="sim_backends.subprocess_serverless:SubprocessServerless",
                               default_storage="localhost")]
