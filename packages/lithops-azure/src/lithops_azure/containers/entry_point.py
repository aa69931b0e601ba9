"""A Container Apps replica: take call messages from the app's Azure Storage queue and run them, one at a time.

The image's command is ``python3 -m lithops_azure.containers.entry_point``. Environment (set by the backend on the
Container App): ``AZURE_STORAGE_CONNECTION_STRING`` (a secret reference), ``LITHOPS_AZURE_QUEUE``,
``LITHOPS_RUNTIME_TIMEOUT``, ``LITHOPS_AZURE_VISIBILITY`` (seconds a taken message stays hidden between renewals)
and ``LITHOPS_AZURE_MAX_DELIVERIES``.

While a message runs, a thread renews its visibility, so a long call keeps it, and a killed replica's message
returns to the queue within one visibility period for another replica (see :mod:`lithops_azure.worker` for what a
redelivered message runs). Finished messages are deleted; poison ones move to ``<queue>-poison``.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from typing import Any

from lithops_azure.delivery import poison_body
from lithops_azure.worker import PoisonMessage, run_message

logger = logging.getLogger("lithops_azure.replica")

LIMIT = ("Container Apps call", "Raise azure_containers.runtime_timeout")
KILLED_HINT = ("Container Apps stops a replica that exceeds its memory: raise azure_containers.runtime_memory "
               "(512 to 8192 MiB)")
#: Seconds between queue polls while the queue is empty.
IDLE_POLL = 1.0


class Renewer(threading.Thread):
    """Keeps a taken message hidden (renewing its visibility) until stopped; holds the latest pop receipt."""

    def __init__(self, queue: Any, message: Any, visibility: int) -> None:
        super().__init__(daemon=True, name="lithops-visibility")
        self.queue, self.message, self.visibility = queue, message, visibility
        self.receipt = message.pop_receipt
        self.lock = threading.Lock()
        self.done = threading.Event()

    def run(self) -> None:
        """Renew every third of the visibility timeout."""
        while not self.done.wait(max(0.5, self.visibility / 3)):
            with self.lock:
                try:
                    updated = self.queue.update_message(self.message.id, self.receipt,
                                                        visibility_timeout=self.visibility)
                    self.receipt = updated.pop_receipt
                except Exception as exc:  # the message is lost to us; another replica will take it
                    logger.warning("could not renew message %s: %s", self.message.id, exc)
                    return

    def stop(self) -> str:
        """Stop renewing; return the pop receipt to delete the message with."""
        self.done.set()
        with self.lock:
            return str(self.receipt)


def handle(queue: Any, poison: Any, message: Any, visibility: int, max_deliveries: int, worker_id: str) -> None:
    """Run one message and delete it (moving it to the poison queue when it is poison)."""
    renewer = Renewer(queue, message, visibility)
    renewer.start()
    try:
        summary = run_message(message.content, int(message.dequeue_count or 1), max_deliveries,
                              where="the Container Apps queue", limit=LIMIT, killed_hint=KILLED_HINT,
                              worker_id=worker_id)
        logger.info("message %s done: %s", message.id, summary)
    except PoisonMessage as exc:
        logger.error("message %s is poison, moved to %s: %s", message.id, poison.queue_name, exc)
        poison.send_message(poison_body(str(exc), message.content, exc.reported))
    except Exception:  # storage unreachable and the like: leave the message for another delivery
        logger.exception("message %s failed; it will be delivered again", message.id)
        renewer.stop()
        return
    queue.delete_message(message.id, renewer.stop())


def main() -> None:
    """Take and run messages until the replica is stopped."""
    from azure.storage.queue import QueueClient

    from lithops_azure.auth import queue_client, queue_service

    logging.basicConfig(level=os.environ.get("LITHOPS_LOG_LEVEL", "INFO"))
    service = queue_service({})  # the connection string comes from AZURE_STORAGE_CONNECTION_STRING
    name = os.environ["LITHOPS_AZURE_QUEUE"]
    queue: QueueClient = queue_client(service, name)
    poison: QueueClient = queue_client(service, f"{name}-poison")
    visibility = int(os.environ.get("LITHOPS_AZURE_VISIBILITY") or 60)
    max_deliveries = int(os.environ.get("LITHOPS_AZURE_MAX_DELIVERIES") or 3)
    worker_id = f"{os.environ.get('CONTAINER_APP_REPLICA_NAME') or platform.node()}:{os.getpid()}"
    logger.info("replica %s taking messages from queue %s", worker_id, name)
    while True:
        try:
            message = queue.receive_message(visibility_timeout=visibility)
        except Exception as exc:  # the storage account is briefly unreachable: try again
            logger.warning("could not read queue %s: %s", name, exc)
            message = None
        if message is None:
            time.sleep(IDLE_POLL)
            continue
        handle(queue, poison, message, visibility, max_deliveries, worker_id)


if __name__ == "__main__":
    main()
