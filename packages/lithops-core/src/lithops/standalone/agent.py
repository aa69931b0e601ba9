"""The standalone agent: ``python -m lithops.standalone.agent CONFIG.json``, one per VM.

It takes work from the job's storage, under ``<prefix>queue/``: each object is a list of worker payloads
(docs/protocol.md, storage transport) that the client queued for this VM. Payloads of jobs named under
``<prefix>cancel/`` are dropped. The agent claims an object by deleting
it and hands its payloads to ``worker_processes`` warm worker processes (:mod:`lithops.standalone.worker`). Every
call's status is written to storage by the worker, as in serverless mode. A worker process that dies (killed, out
of memory) gets a ``WorkerDiedError`` status for each of its unfinished calls, and is replaced.

About once a second the agent writes ``<prefix>agent.json``, its heartbeat: pid, sequence number, Python and
code versions, worker processes, busy slots, the queue objects it has finished and the payloads that could not run
at all. From it the client learns that the agent is up, and that it died (the sequence stops moving). With
``auto_dismantle`` it stops after ``soft_dismantle_timeout`` seconds without work, or after
``hard_dismantle_timeout`` seconds in all (calls still running then fail with a message saying so), deletes its
heartbeat, and powers the VM off when its config says ``on_dismantle: poweroff``.

The config file is written by the client (:meth:`lithops.standalone.backend.StandaloneBackend.agent_config`).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from typing import Any

from lithops.job.job import job_key

logger = logging.getLogger("lithops.standalone.agent")

#: Seconds between heartbeats.
HEARTBEAT_SEC = 1.0
#: Polling the queue: this often right after work, slowing down to the second figure when idle.
POLL_FAST_SEC, POLL_SLOW_SEC = 0.05, 1.0
#: How many finished queue objects, and payloads that could not run, the heartbeat lists.
FINISHED_KEPT, BROKEN_KEPT = 2000, 200


def python_version() -> str:
    """``major.minor`` of this interpreter."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def config_digest(config: dict[str, Any]) -> str:
    """A digest of an agent config: the client restarts an agent whose config is not the one it would give."""
    import hashlib

    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


class _Slot:
    """One warm worker process and the thread that feeds it."""

    def __init__(self, agent: Agent, number: int) -> None:
        self.agent = agent
        self.number = number
        self.proc: subprocess.Popen[bytes] | None = None
        self.reply: Any = None

    def _spawn(self) -> None:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-m", "lithops.standalone.worker", str(write_fd)],
                                     stdin=subprocess.PIPE, pass_fds=(write_fd,), close_fds=True)
        os.close(write_fd)
        self.reply = os.fdopen(read_fd, "r", encoding="utf-8")

    def run(self) -> None:
        """Feed queued payloads to the process until the agent stops."""
        while True:
            item = self.agent.work.get()
            if item is None:
                return
            key, payload = item
            if self.agent.stop_reason:  # stopping: what is still queued fails at once
                self._fail(payload, self.agent.stop_reason)
                self.agent.done(key)
                continue
            if job_key(payload["executor_id"], payload["job_id"]) in self.agent.cancelled:
                self.agent.done(key)
                continue
            if self.proc is None or self.proc.poll() is not None:
                self._spawn()
            assert self.proc is not None and self.proc.stdin is not None
            line = ""
            try:
                self.proc.stdin.write((json.dumps(payload) + "\n").encode())
                self.proc.stdin.flush()
                line = self.reply.readline()
            except OSError:
                pass
            if line:
                answer = json.loads(line)
                if answer.get("error"):  # the payload could not run at all: the client fails its calls
                    self.agent.broken(payload, str(answer["error"]))
            if not line:  # the process died with the payload
                code = self.proc.wait()
                self._fail(payload, self.agent.stop_reason or (f"was killed by signal {-code}" if code < 0
                                                               else f"exited with code {code}"))
                self.reply.close()
                self.proc = None
            self.agent.done(key)

    def _fail(self, payload: dict[str, Any], why: str) -> None:
        from lithops.errors import WorkerDiedError
        from lithops.worker.handler import fail_calls_without_status

        error = WorkerDiedError(
            f"worker process {self.number} on {self.agent.vm_name} {why} before job {payload['executor_id']}-"
            f"{payload['job_id']} finished (out of memory, or killed). The agent's log on the VM may say more.")
        try:
            fail_calls_without_status(self.agent.storage, self.agent.bucket, payload, error)
        except Exception as exc:  # storage unreachable: the client's watch fails these calls
            logger.warning("cannot record failed calls: %s", exc)

    def kill(self) -> None:
        """End the process now."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


class Agent:
    """Serves one VM's queue. ``config`` is the JSON document the client wrote."""

    def __init__(self, config: dict[str, Any]) -> None:
        from lithops.plugins.specs import import_object
        from lithops.standalone.config import worker_processes

        spec = config["storage"]
        self.storage = import_object(spec["backend"])(spec["config"])
        self.storage.name = spec["name"]
        self.bucket = spec["bucket"]
        self.config = config
        self.vm_name = str(config.get("vm_name") or config["vm_id"])
        self.prefix = str(config["prefix"])
        self.processes = worker_processes(config)
        self.soft = float(config["soft_dismantle_timeout"])  # the client's StandaloneBackend.agent_config sets them
        self.hard = float(config["hard_dismantle_timeout"])
        self.auto = bool(config["auto_dismantle"])
        self.work: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.stop_reason: str | None = None
        #: Keys (``<executor id>-<job id>``) of cancelled jobs: their payloads still queued here do not run.
        self.cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._finished: collections.deque[str] = collections.deque(maxlen=FINISHED_KEPT)
        self._broken: collections.deque[dict[str, Any]] = collections.deque(maxlen=BROKEN_KEPT)
        self._seq = 0
        self._last_work = time.monotonic()
        self.slots = [_Slot(self, n) for n in range(self.processes)]

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def done(self, key: str) -> None:
        """One payload of queue object ``key`` has been run (or failed)."""
        with self._lock:
            self._pending[key] -= 1
            if self._pending[key] == 0:
                del self._pending[key]
                self._finished.append(key.rsplit("/", 1)[-1])
            self._last_work = time.monotonic()

    def broken(self, payload: dict[str, Any], error: str) -> None:
        """Record a payload that could not run at all (its statuses may be unwritable): the heartbeat lists it,
        so the client fails its calls.
        """
        with self._lock:
            self._broken.append({"executor_id": payload["executor_id"], "job_id": payload["job_id"],
                                 "call_ids": payload["call_ids"], "error": error})

    def busy(self) -> bool:
        """Whether any claimed payload has not finished."""
        with self._lock:
            return bool(self._pending)

    def heartbeat(self, error: str | None = None) -> None:
        """Write ``agent.json``."""
        with self._lock:
            self._seq += 1
            doc = {"vm_id": self.config["vm_id"], "pid": os.getpid(), "seq": self._seq, "time": time.time(),
                   "python_version": python_version(), "python_full_version": platform.python_version(),
                   "code_digest": self.config.get("code_digest"), "config_digest": config_digest(self.config),
                   "worker_processes": self.processes,
                   "cpus": os.cpu_count(), "busy": len(self._pending), "finished": list(self._finished),
                   "broken": list(self._broken),
                   "worker_pids": [s.proc.pid for s in self.slots if s.proc is not None], "error": error}
        self.storage.put_object(self.bucket, self.prefix + "agent.json", json.dumps(doc).encode())

    # -- the loop ----------------------------------------------------------------------------------------------
    def poll(self) -> int:
        """Take in cancelled jobs, claim the queued objects and queue their payloads; return how many objects."""
        for key in self.storage.list_keys(self.bucket, self.prefix + "cancel/"):
            self.cancelled.add(key.rsplit("/", 1)[-1])
            self.storage.delete_object(self.bucket, key)
        claimed = 0
        for key in sorted(self.storage.list_keys(self.bucket, self.prefix + "queue/")):
            try:
                data = self.storage.get_object(self.bucket, key)
                self.storage.delete_object(self.bucket, key)
            except Exception:  # claimed meanwhile, or removed by the client
                continue
            payloads = json.loads(data)
            with self._lock:
                self._pending[key] = len(payloads)
                self._last_work = time.monotonic()
            for payload in payloads:
                self.work.put((key, payload))
            claimed += 1
        return claimed

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SEC):
            try:
                self.heartbeat()
            except Exception as exc:
                logger.warning("heartbeat failed: %s", exc)

    def serve(self) -> str:
        """Run until the dismantle timeouts say stop; return why it stopped."""
        born = time.monotonic()
        threads = [threading.Thread(target=s.run, daemon=True, name=f"slot-{s.number}") for s in self.slots]
        for t in threads:
            t.start()
        self.heartbeat()
        stop_beat = threading.Event()
        beat = threading.Thread(target=self._beat, args=(stop_beat,), daemon=True)
        beat.start()
        interval = POLL_FAST_SEC
        reason = ""
        while not reason:
            try:
                interval = POLL_FAST_SEC if self.poll() or self.busy() else min(POLL_SLOW_SEC, interval * 1.5)
            except Exception as exc:  # storage hiccup: try again
                logger.warning("poll failed: %s", exc)
            now = time.monotonic()
            with self._lock:
                idle = not self._pending and now - self._last_work > self.soft
            if self.auto and idle:
                stop_beat.set()
                beat.join()
                self.storage.delete_object(self.bucket, self.prefix + "agent.json")
                if self.poll():  # work came in just now: carry on
                    self.heartbeat()
                    stop_beat = threading.Event()
                    beat = threading.Thread(target=self._beat, args=(stop_beat,), daemon=True)
                    beat.start()
                    continue
                reason = f"idle for {self.soft:g} s (soft_dismantle_timeout)"
            elif self.auto and now - born > self.hard:
                reason = f"running for {self.hard:g} s (hard_dismantle_timeout)"
            else:
                time.sleep(interval)
        self.stop_reason = f"was stopped by the agent's {reason}"
        for _ in self.slots:
            self.work.put(None)
        for s in self.slots:
            s.kill()
        for t in threads:
            t.join(timeout=30)
        stop_beat.set()
        try:
            self.storage.delete_object(self.bucket, self.prefix + "agent.json")
        except Exception:
            pass
        return reason


def main(argv: list[str]) -> int:
    """Check the Python version, serve the queue, then exit or power the VM off."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with open(argv[1], encoding="utf-8") as f:
        config = json.load(f)
    agent = Agent(config)
    wanted = config.get("python_version")
    if wanted and wanted != python_version():
        error = (f"{agent.vm_name} runs Python {python_version()} but the client runs Python {wanted}; calls "
                 f"pickled by one cannot run on the other. Install Python {wanted} on the VM and set the "
                 f"backend's runtime to it, or run the client with Python {python_version()}.")
        agent.heartbeat(error=error)
        logger.error(error)
        return 3
    logger.info("agent on %s: %d worker processes, queue %squeue/", agent.vm_name, agent.processes, agent.prefix)
    reason = agent.serve()
    logger.info("stopping: %s", reason)
    if config.get("on_dismantle") == "poweroff":
        subprocess.run(["shutdown", "-h", "now"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
