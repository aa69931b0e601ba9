"""The worker side of a call message taken from an Azure Storage queue (Container Apps replicas and the Functions
queue trigger).

A queue delivers at least once: a message whose replica was killed comes back once its visibility timeout passes,
and its ``dequeue_count`` grows. So a redelivered message runs only the calls that have no status yet; once it has
been delivered more than ``max_deliveries`` times its unfinished calls fail with :class:`WorkerDiedError` (the
client learns at once, nothing waits for a timeout) and the message is poison. A body that is not a worker payload
is poison at once.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from lithops.errors import WorkerDiedError

logger = logging.getLogger(__name__)


class PoisonMessage(Exception):
    """A message no worker can run: move it to the poison queue. ``reported``: its calls have their statuses."""

    def __init__(self, message: str, reported: bool = False) -> None:
        super().__init__(message)
        self.reported = reported


def load_payload(body: bytes) -> dict[str, Any]:
    """The worker payload of a message body (read from storage when the body is a reference)."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise PoisonMessage(f"the message is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise PoisonMessage("the message is not a JSON object (a worker payload)")
    if "lithops_payload" in event:
        from lithops.backends.payloads import get_payload

        event = get_payload(event["lithops_payload"])
    if not isinstance(event, dict) or not {"executor_id", "job_id", "call_ids", "config"} <= set(event):
        raise PoisonMessage("the message is not a Lithops worker payload (executor_id, job_id, call_ids, config)")
    return event


def unfinished(payload: dict[str, Any]) -> list[str]:
    """The calls of the payload that have no status yet."""
    from lithops.storage.storage import Storage
    from lithops.storage.utils import StorageNoSuchKeyError
    from lithops.worker.handler import status_key

    client = Storage.for_worker(payload["config"], payload["storage_backend"])
    left = []
    for call_id in payload["call_ids"]:
        try:
            client.storage_handler.head_object(client.bucket, status_key(payload["executor_id"], payload["job_id"],
                                                                          call_id))
        except StorageNoSuchKeyError:
            left.append(call_id)
    return left


def run_message(body: bytes, deliveries: int, max_deliveries: int, *, where: str, limit: tuple[str, str],
                killed_hint: str, worker_id: str | None = None) -> dict[str, Any]:
    """Run the calls of one queue message, delivered for the ``deliveries``-th time; return the summary.

    Raises:
        PoisonMessage: the body is no payload, or it was delivered too often (its calls are failed first).
    """
    from lithops.worker.invocation import deadline_from_env, fail_unfinished, run_invocation

    payload = load_payload(body)
    if deliveries > 1:
        left = unfinished(payload)
        logger.info("message of job %s-%s delivered %d times; %d of its calls have no status", payload["executor_id"],
                    payload["job_id"], deliveries, len(left))
        if deliveries > max_deliveries:
            error = WorkerDiedError(
                f"the call message was delivered {deliveries} times by {where}, and each time the worker that took it "
                f"stopped before finishing (killed, out of memory, or the platform stopped it). {killed_hint}"
            )
            fail_unfinished(dict(payload, call_ids=left), error, time.time(), worker_id)
            raise PoisonMessage(str(error), reported=True)
        payload = dict(payload, call_ids=left)
        if not left:
            return {"call_ids": [], "succeeded": 0, "failed": 0}
    try:
        return run_invocation(payload, deadline_from_env(), limit=limit, killed_hint=killed_hint, worker_id=worker_id)
    except RuntimeError as exc:  # the payload itself cannot run here (its storage, its protocol): no retry helps
        raise PoisonMessage(f"{where}: {exc}") from exc
