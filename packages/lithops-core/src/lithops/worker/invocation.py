"""Worker side shared by serverless and batch backends: run a worker payload so every call gets a status, whatever
happens.

The payload (docs/protocol.md, storage transport) may carry an extra ``worker_processes`` key. The calls run in a
forked child process, so that this handler outlives what kills them and still writes a status
for each call: a child killed by the out-of-memory killer or exiting early gives ``WorkerDiedError``; calls still
running when the function is about to reach its own timeout are stopped and given ``FunctionTimeoutError``.
Nothing is lost and the client never waits for a call whose invocation is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import threading
import time
from typing import Any

#: Seconds kept free before the function's timeout to stop the calls and write their statuses.
MIN_MARGIN, MAX_MARGIN = 1.0, 3.0


def runtime_metadata() -> dict[str, Any]:
    """What the client checks before sending jobs: Python, Lithops and job protocol versions."""
    from importlib import metadata

    from lithops.constants import PROTOCOL_VERSION

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    import lithops

    return {
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "python_full_version": platform.python_version(),
        "lithops_version": getattr(lithops, "__version__", None) or version("lithops-core"),
        "protocol": PROTOCOL_VERSION,
        "machine": platform.machine(),
    }


class MissingModuleHint:
    """A last import finder: an ``import`` of a top-level module nothing provides fails with ``hint`` (how to add
    the package to the runtime) appended to the usual ``No module named ...``.

    Only import statements get the hint; ``importlib.util.find_spec`` still answers None for missing modules.
    """

    def __init__(self, hint: str) -> None:
        self.hint = hint

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        """Raise the hinted error when an import statement looks for a missing top-level module."""
        if path is None and "." not in name and _in_import_statement():
            raise ModuleNotFoundError(f"No module named {name!r}. {self.hint}", name=name)
        return None


def _in_import_statement() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "_find_and_load_unlocked":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _child(payload: dict[str, Any], parallelism: int, conn: Any, hint: str | None) -> None:
    from lithops.worker.handler import run_payload

    if hint:
        sys.meta_path.append(MissingModuleHint(hint))  # type: ignore[arg-type]
    try:
        summary = run_payload(payload, parallelism=parallelism)
        conn.send({"summary": summary})
    except BaseException as exc:  # the payload itself is unusable (protocol, storage): report to the parent
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        conn.close()


_warmed: set[str] = set()
#: Held while warming and forking: a thread forking while another is inside an import would leave that module's
#: lock held for ever in its child, which then hangs on the same import (HTTP services run requests in threads).
_FORK_LOCK = threading.Lock()


def _warm(payload: dict[str, Any]) -> None:
    """Import the worker code and make one storage client before forking (once per sandbox and storage config),
    so each forked child starts with them loaded instead of importing Lithops and the storage SDK again.
    """
    import json

    key = json.dumps([payload.get("storage_backend"), (payload.get("config") or {}).get(
        (payload.get("config") or {}).get("lithops", {}).get("storage", ""))], sort_keys=True, default=str)
    if key in _warmed:
        return
    try:
        from lithops.storage.storage import Storage
        from lithops.worker.handler import run_payload  # noqa: F401 - imported for the children

        Storage.for_worker(payload["config"], payload["storage_backend"])  # loads the SDK and its models
    except Exception:  # the child reports whatever is wrong with the payload
        return
    _warmed.add(key)


def _remaining(context: Any) -> float | None:
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return float(context.get_remaining_time_in_millis()) / 1000.0


def fail_unfinished(payload: dict[str, Any], error: BaseException, start: float, worker_id: str | None = None) -> int:
    """Write a failed status for each call of the payload that has none; return how many were written.

    ``worker_id`` names the sandbox in the statuses (default: this host and process).
    """
    from lithops.storage.storage import Storage
    from lithops.worker.handler import fail_calls_without_status

    client = Storage.for_worker(payload["config"], payload["storage_backend"])
    stats = {"worker_start_tstamp": start, "worker_end_tstamp": time.time(),
             "worker_id": worker_id or f"{platform.node()}:{os.getpid()}"}
    return fail_calls_without_status(client.storage_handler, client.bucket, payload, error, stats)


class Deadline:
    """A Lambda-like context for other platforms: milliseconds left until ``seconds`` from now."""

    def __init__(self, seconds: float) -> None:
        self.end = time.time() + seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left (0 once passed)."""
        return max(0, int((self.end - time.time()) * 1000))


def deadline_from_env(variable: str = "LITHOPS_RUNTIME_TIMEOUT") -> Deadline | None:
    """A :class:`Deadline` of the seconds in ``variable`` from now, or None when it is unset."""
    seconds = os.environ.get(variable)
    return Deadline(float(seconds)) if seconds else None


def run_invocation(event: dict[str, Any], context: Any = None, *, limit: tuple[str, str],
                   killed_hint: str | None = None, missing_module_hint: str | None = None,
                   worker_id: str | None = None) -> dict[str, Any]:
    """Run a worker payload in a child process and account for every call; return the summary.

    Args:
        event: the worker payload.
        context: anything with ``get_remaining_time_in_millis()`` (Lambda's context, a :class:`Deadline`), or None
            for no deadline.
        limit: what imposes the deadline and how to raise it, for the error message, e.g.
            ``("Cloud Run request", "Raise gcp_cloudrun.runtime_timeout")``.
        killed_hint: why the platform most likely killed the worker process and what to do (usually memory).
        missing_module_hint: how to add a package to the runtime, appended to a call's ``ModuleNotFoundError``.
        worker_id: names this sandbox in the failed statuses it writes.
    """
    from lithops.backends.helpers import describe_exit
    from lithops.errors import FunctionTimeoutError, WorkerDiedError
    from lithops.job.job import job_key

    start = time.time()
    parallelism = int(event.get("worker_processes") or os.environ.get("LITHOPS_WORKER_PROCESSES") or 1)
    ctx = multiprocessing.get_context("fork")
    with _FORK_LOCK:
        _warm(event)
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, args=(event, parallelism, sender, missing_module_hint), daemon=True)
        child.start()
    remaining = _remaining(context)  # after warming: that took part of the function's time
    sender.close()
    margin = None if remaining is None else min(MAX_MARGIN, max(MIN_MARGIN, remaining * 0.1))
    limit_s = None if remaining is None or margin is None else max(0.05, remaining - margin)
    until = None if limit_s is None else time.monotonic() + limit_s
    child.join(limit_s)
    # Timed out only if the deadline passed. In a threaded server (http_service) another thread starting its own
    # child reaps finished children (multiprocessing's _cleanup), so this one can look alive for a moment after it
    # exited: wait for its exit code to be recorded instead of calling that a timeout.
    while child.is_alive() and until is not None and time.monotonic() < until:
        time.sleep(0.01)
    timed_out = child.is_alive()
    if timed_out:
        child.kill()
        child.join()
    message: dict[str, Any] = {}
    try:
        if receiver.poll():
            message = receiver.recv()
    except (EOFError, OSError):
        message = {}
    receiver.close()
    if "summary" in message:
        return dict(message["summary"])
    if "error" in message:
        raise RuntimeError(f"the worker could not run the payload: {message['error']}")
    job = job_key(str(event.get("executor_id")), str(event.get("job_id")))
    if timed_out:
        seconds = os.environ.get("LITHOPS_RUNTIME_TIMEOUT") or (f"{remaining:.0f}" if remaining is not None else "?")
        error: BaseException = FunctionTimeoutError(
            f"a call of job {job} was still running when its {limit[0]} reached its timeout of about {seconds} s, "
            f"and was stopped. {limit[1]}, or use a smaller chunksize."
        )
    else:
        error = WorkerDiedError(
            f"the worker process of job {job} " + describe_exit(child.exitcode, killed_hint=killed_hint) + "."
        )
    written = fail_unfinished(event, error, start, worker_id)
    return {"call_ids": list(event.get("call_ids") or []), "succeeded": len(event.get("call_ids") or []) - written,
            "failed": written, "error": str(error)}
