"""The handlers of Lithops' Cloud Functions, run by Google's functions-framework (imported by the zip's main.py).

- ``main_http(request)``: the ``https`` trigger. A POST body is a worker payload (or a reference to one in storage,
  or ``{"lithops_action": "metadata"}``) handled by :func:`lithops.worker.http_service.handle_body`; GET answers
  ``ok``.
- ``main_pubsub(cloud_event)``: the ``pub/sub`` trigger (CloudEvent ``google.cloud.pubsub.topic.v1.messagePublished``).
  The message data is the same JSON body. The function never raises, so Pub/Sub does not deliver the message again:
  every call already has a status in storage, whatever happened to it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Any

from lithops.worker.http_service import handle_body

logger = logging.getLogger(__name__)

#: What stops a Cloud Functions call, and how to raise it.
FUNCTIONS_LIMIT = ("Cloud Function", "Raise gcp_functions.runtime_timeout (at most 540 s with the pub/sub trigger, "
                                     "3600 s with https)")


def _handle(body: bytes) -> tuple[int, dict[str, Any]]:
    memory = os.environ.get("LITHOPS_RUNTIME_MEMORY") or "?"
    runtime = os.environ.get("LITHOPS_RUNTIME") or "default"
    return handle_body(
        body, limit=FUNCTIONS_LIMIT,
        killed_hint=f"most likely for running out of the function's {memory} MiB of memory: raise "
                    f"gcp_functions.runtime_memory, or runtime_memory=...",
        missing_module_hint=f"The Cloud Functions runtime '{runtime}' does not have it: add it to the requirements "
                            f"file that gcp_functions.runtime names, and run 'lithops runtime deploy -b "
                            f"gcp_functions' again.",
        worker_id=f"functions:{os.environ.get('K_REVISION', '?')}:{os.getpid()}")


def main_http(request: Any) -> tuple[str, int, dict[str, str]]:
    """The https trigger: a flask request in, a JSON answer out."""
    if request.method != "POST":
        return "ok", 200, {"Content-Type": "text/plain"}
    status, answer = _handle(request.get_data())
    return json.dumps(answer), status, {"Content-Type": "application/json"}


def main_pubsub(cloud_event: Any) -> None:
    """The pub/sub trigger: one worker payload per message."""
    message = (cloud_event.data or {}).get("message") or {}
    try:
        body = base64.b64decode(message.get("data") or b"")
    except ValueError as exc:
        logger.error("message %s has no base64 data: %s", message.get("messageId"), exc)
        return
    status, answer = _handle(body)
    if status != 200:
        logger.error("message %s could not be run: %s", message.get("messageId"), answer.get("error"))
