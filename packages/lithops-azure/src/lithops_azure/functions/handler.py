"""The code of a Lithops function app (Azure Functions' Python v2 programming model): the app's
``function_app.py`` imports :data:`app` from here.

Two functions: ``lithops_queue``, triggered by the app's storage queue (``LITHOPS_AZURE_QUEUE``; the ``pub/sub``
trigger), and ``lithops_http``, an HTTP trigger on ``POST /api/lithops`` with a function key (the ``https``
trigger). Both run worker payloads with the kernel's worker code (:func:`lithops.worker.http_service.handle_body`
and :mod:`lithops_azure.worker`), so every call gets a status, also when the invocation's timeout or memory stops it.
"""

from __future__ import annotations

import json
import logging
import os

import azure.functions as func

from lithops.worker.http_service import handle_body
from lithops_azure.delivery import poison_body
from lithops_azure.worker import PoisonMessage, run_message

logger = logging.getLogger(__name__)

LIMIT = ("Azure Functions invocation", "Raise azure_functions.runtime_timeout")
KILLED_HINT = "an instance stops when it exceeds its memory: raise azure_functions.runtime_memory (512, 2048, 4096 MiB)"

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="%LITHOPS_AZURE_QUEUE%", connection="AzureWebJobsStorage")
def lithops_queue(msg: func.QueueMessage) -> None:
    """Run the calls of a queue message; a poison message goes to ``<queue>-poison`` with the reason."""
    deliveries = int(getattr(msg, "dequeue_count", None) or 1)
    body = msg.get_body()
    try:
        summary = run_message(body, deliveries, int(os.environ.get("LITHOPS_AZURE_MAX_DELIVERIES") or 5),
                              where="the Functions queue trigger", limit=LIMIT, killed_hint=KILLED_HINT)
        logger.info("message %s done: %s", msg.id, summary)
    except PoisonMessage as exc:
        from lithops_azure.auth import queue_client, queue_service

        queue = os.environ["LITHOPS_AZURE_QUEUE"]
        logger.error("message %s is poison, moved to %s-poison: %s", msg.id, queue, exc)
        service = queue_service({"connection_string": os.environ["AzureWebJobsStorage"]})
        queue_client(service, f"{queue}-poison").send_message(poison_body(str(exc), body, exc.reported))


@app.route(route="lithops", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def lithops_http(req: func.HttpRequest) -> func.HttpResponse:
    """Run the worker payload in the request body; answer with its summary (or the runtime's metadata)."""
    status, answer = handle_body(req.get_body(), limit=LIMIT, killed_hint=KILLED_HINT)
    return func.HttpResponse(json.dumps(answer), status_code=status, mimetype="application/json")
