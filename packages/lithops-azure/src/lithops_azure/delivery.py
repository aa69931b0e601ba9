"""Sending worker payloads to the workers: one message per group of calls on an Azure Storage queue, or one HTTPS
request each (the ``https`` trigger of Functions), from a pool of client threads; and watching the poison queue for
calls no worker could run.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.helpers import report_failed
from lithops.backends.payloads import put_payload
from lithops.errors import BackendError, WorkerDiedError
from lithops.job.job import JobRequest, job_key
from lithops_azure.auth import azure_errors

logger = logging.getLogger(__name__)

#: A queue message holds 64 KiB of base64 text: payloads over this many bytes go through storage.
MAX_MESSAGE_BYTES = 48_000


def message_body(backend: ComputeBackend, job: JobRequest, ids: list[str], worker_processes: int,
                 limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """The body that carries a group of calls: the worker payload, or a reference to it in storage when larger
    than ``limit``.
    """
    payload = job.worker_payload(ids, worker_processes)
    body = json.dumps(payload).encode()
    if len(body) <= limit:
        return body
    reference = put_payload(backend, job, f"{job.prefix}/azure_payload_{ids[0]}.json", payload)
    return json.dumps({"lithops_payload": reference}).encode()


class Sender:
    """Sends bodies with ``send(body)`` on up to ``threads`` client threads; ``send_all`` returns when all went."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.sent = 0

    def send_all(self, bodies: list[bytes], send: Callable[[bytes], Any], what: str) -> None:
        """Send every body; raise BackendError (saying how many went) when one cannot be sent."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="lithops-azure-send")
            pool = self._pool

        def one(body: bytes) -> None:
            with azure_errors(what):
                send(body)
            with self._lock:
                self.sent += 1

        futures = [pool.submit(one, body) for body in bodies]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            ok = len(bodies) - len(errors)
            raise BackendError(f"{errors[0]} ({ok} of {len(bodies)} call groups were sent before that and run)") \
                from errors[0]

    def close(self) -> None:
        """Stop the threads (a later send starts new ones)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def poison_body(error: str, body: bytes, reported: bool = False) -> bytes:
    """What a worker puts on the poison queue: why, the message it could not run, and whether its calls already
    have failed statuses (then the client need not report them).
    """
    return json.dumps({"lithops_poison": error, "message": body.decode(errors="replace"),
                       "reported": reported}).encode()


class PoisonWatcher:
    """Watches a poison queue while jobs run, and fails at once the calls of this client's messages that land there
    (payloads no worker could run, or messages whose workers kept dying), instead of leaving them to their timeout.

    Messages of other clients are left on the queue for them.
    """

    INTERVAL = 1.0

    def __init__(self, queue: Any, where: str) -> None:
        self.queue, self.where = queue, where
        self.jobs: dict[str, StatusReporter] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def watch(self, job: JobRequest, report: StatusReporter) -> None:
        """Fail the calls of ``job`` that reach the poison queue through ``report``."""
        with self._lock:
            self.jobs[job.job_key] = report
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, daemon=True, name="lithops-azure-poison")
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            try:
                for message in self.queue.receive_messages(messages_per_page=32, visibility_timeout=30):
                    self._handle(message)
            except Exception as exc:  # the queue is briefly unreachable: try again
                logger.debug("could not read the poison queue: %s", exc)

    def _handle(self, message: Any) -> None:
        if not self._report(message):  # another client's (or no Lithops) message: visible again at once
            self.queue.update_message(message.id, message.pop_receipt, visibility_timeout=0)

    def _report(self, message: Any) -> bool:
        """Fail the calls of a poison message of this client's jobs and delete it; False if it is not ours."""
        from lithops_azure.worker import PoisonMessage, load_payload

        content = bytes(message.content)
        try:
            wrapped = json.loads(content)
        except ValueError:
            return False
        if isinstance(wrapped, dict) and "lithops_poison" in wrapped:
            reason, body = str(wrapped["lithops_poison"]), str(wrapped.get("message", "")).encode()
        else:
            reason = (f"{self.where} moved the call message to its poison queue after delivering it several times "
                      f"without success; the workers' logs say why")
            body = content
        try:
            payload = load_payload(body)
        except (PoisonMessage, Exception):
            return False
        with self._lock:
            report = self.jobs.get(job_key(str(payload["executor_id"]), str(payload["job_id"])))
        if report is None:
            return False
        if not (isinstance(wrapped, dict) and wrapped.get("reported")):  # else the worker failed the calls itself
            report_failed(report, payload, WorkerDiedError(reason))
        self.queue.delete_message(message.id, message.pop_receipt)
        return True

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
            self.jobs.clear()
        if thread is not None:
            thread.join(5)
