"""What this machine keeps about Lithops jobs, workers and call output, for the CLI and ``future.logs()``.

Everything lives under one folder, :func:`state_dir` (``lithops.constants.TEMP_DIR``, or ``LITHOPS_STATE_DIR``
when set):

``logs/<job_key>/<call_id>.log``
    The captured stdout and stderr of each call that printed something. Workers on this machine (localhost)
    write these files themselves, so the output of a call whose process was killed is kept too; for other
    backends the client writes them when the call's status arrives (see docs/protocol.md).
``logs/.running/<pid>.log``
    The output of the call a local worker process is running right now.
``jobs.jsonl``
    One JSON line per job an executor submitted on this machine, and one when the job's calls have all
    finished (``lithops job list``).
``workers/<pid>.json``
    One file per live worker process of a backend whose workers run on this machine (``lithops worker list``).

Every writer here is best effort: failing to keep state never fails a call or a job.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from lithops.constants import TEMP_DIR

#: Environment variable that moves the state folder (tests, several users sharing a tempdir).
STATE_DIR_ENV = "LITHOPS_STATE_DIR"
#: ``jobs.jsonl`` is moved to ``jobs.jsonl.1`` (replacing it) once it grows past this many bytes.
JOBS_FILE_MAX_BYTES = 4 * 1024 * 1024
#: Name of the folder, inside the logs folder, that holds the output of running calls.
RUNNING_DIR = ".running"


def state_dir() -> str:
    """The folder that holds the local state."""
    return os.environ.get(STATE_DIR_ENV) or TEMP_DIR


def logs_dir() -> str:
    """The folder of the captured call output: one sub-folder per job."""
    return os.path.join(state_dir(), "logs")


def jobs_file() -> str:
    """The job log that executors append to."""
    return os.path.join(state_dir(), "jobs.jsonl")


def workers_dir() -> str:
    """The folder where local worker processes register."""
    return os.path.join(state_dir(), "workers")


# -- call output ---------------------------------------------------------------------------------------------
def job_logs_dir(job_key: str) -> str:
    """The folder of one job's call logs."""
    return os.path.join(logs_dir(), job_key)


def call_log_path(job_key: str, call_id: str) -> str:
    """The file holding one call's captured output."""
    return os.path.join(job_logs_dir(job_key), f"{call_id}.log")


def running_log_path(log_dir: str, pid: int) -> str:
    """Where worker ``pid`` keeps the output of the call it is running, for calls logging to ``log_dir``."""
    return os.path.join(os.path.dirname(os.path.normpath(log_dir)), RUNNING_DIR, f"{pid}.log")


def _write_atomic(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def save_call_log(job_key: str, call_id: str, data: bytes) -> None:
    """Keep a call's output (received from a worker elsewhere) where ``future.logs()`` and the CLI find it."""
    try:
        _write_atomic(call_log_path(job_key, call_id), data)
    except OSError:
        pass


def read_call_log(job_key: str, call_id: str) -> bytes | None:
    """A call's captured output, or None when it printed nothing (or it was cleaned)."""
    try:
        with open(call_log_path(job_key, call_id), "rb") as f:
            return f.read()
    except OSError:
        return None


def job_call_logs(job_key: str) -> list[tuple[str, str]]:
    """``(call_id, path)`` of every call of a job that has captured output, in call order."""
    try:
        names = os.listdir(job_logs_dir(job_key))
    except OSError:
        return []
    calls = sorted(n[:-4] for n in names if n.endswith(".log"))
    return [(c, os.path.join(job_logs_dir(job_key), f"{c}.log")) for c in calls]


def jobs_with_logs() -> list[str]:
    """Keys of the jobs that have a logs folder."""
    try:
        return sorted(e.name for e in os.scandir(logs_dir()) if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return []


# -- job log -------------------------------------------------------------------------------------------------
def _append_job_record(record: dict[str, Any]) -> None:
    path = jobs_file()
    line = (json.dumps(record, default=str) + "\n").encode()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)  # one write of one short line: appends from several processes do not interleave
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > JOBS_FILE_MAX_BYTES:
            os.replace(path, path + ".1")
    except OSError:
        pass


def record_job_submitted(
    job_key: str, function: str, calls: int, backend: str, storage: str, submitted: float
) -> None:
    """Append a job's submission to the job log."""
    executor_id, _, job_id = job_key.rpartition("-")
    _append_job_record({
        "event": "submitted", "job_key": job_key, "executor_id": executor_id, "job_id": job_id,
        "function": function, "calls": calls, "backend": backend, "storage": storage, "submitted": submitted,
        "pid": os.getpid(), "host": socket.gethostname(),
    })


def record_job_finished(job_key: str, succeeded: int, failed: int) -> None:
    """Append the end of a job (all of its calls finished) to the job log."""
    _append_job_record({"event": "finished", "job_key": job_key, "finished": time.time(),
                        "succeeded": succeeded, "failed": failed})


def _read_lines(path: str) -> Iterator[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:  # a line cut short by a crash
                    continue
                if isinstance(record, dict) and "job_key" in record:
                    yield record
    except OSError:
        return


def read_jobs() -> list[dict[str, Any]]:
    """Every job of the job log, oldest first: its submission record, updated with its end if it ended.

    ``status`` is ``running``, ``done`` (every call succeeded), ``failed`` (some call failed) or ``unknown``
    (the client that submitted it exited before its calls finished).
    """
    jobs: dict[str, dict[str, Any]] = {}
    for path in (jobs_file() + ".1", jobs_file()):
        for record in _read_lines(path):
            key = record["job_key"]
            if record.get("event") == "submitted":
                jobs[key] = {**record, "status": "running", "succeeded": None, "failed": None, "finished": None}
            elif record.get("event") == "finished" and key in jobs:
                jobs[key].update(succeeded=record.get("succeeded"), failed=record.get("failed"),
                                 finished=record.get("finished"))
                jobs[key]["status"] = "failed" if record.get("failed") else "done"
    here = socket.gethostname()
    for job in jobs.values():
        if job["status"] == "running" and job.get("host") == here and not pid_alive(job.get("pid")):
            job["status"] = "unknown"
    return sorted(jobs.values(), key=lambda j: j.get("submitted") or 0)


# -- local workers -------------------------------------------------------------------------------------------
def pid_alive(pid: Any) -> bool:
    """Whether a process with this id exists on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rpartition(")")[2].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def prune_running_logs(max_age: float = 86400.0) -> None:
    """Remove the scratch output files of worker processes that are gone: empty ones, and any older than
    ``max_age`` seconds (the output of a call whose client died with its worker).
    """
    folder = os.path.join(logs_dir(), RUNNING_DIR)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        pid = entry.name[:-4]
        if not entry.name.endswith(".log") or not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            stat = entry.stat()
            if not stat.st_size or now - stat.st_mtime > max_age:
                os.unlink(entry.path)
        except OSError:
            pass


def register_worker(backend: str, **info: Any) -> None:
    """Register this process as a worker of ``backend`` until it exits (``lithops worker list``).

    Also clears what workers that are gone left behind (their registrations, their empty scratch files).
    """
    list_workers()
    prune_running_logs()
    pid = os.getpid()
    path = os.path.join(workers_dir(), f"{pid}.json")
    record = {"pid": pid, "backend": backend, "client_pid": os.getppid(), "started": time.time(),
              "host": socket.gethostname(), "process_start": _process_start(pid), **info}
    try:
        _write_atomic(path, json.dumps(record, default=str).encode())
    except OSError:
        return

    def unregister() -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    atexit.register(unregister)


def list_workers(backend: str | None = None) -> list[dict[str, Any]]:
    """The live registered workers (of ``backend`` if given), oldest first; files of dead ones are removed."""
    workers = []
    try:
        entries = list(os.scandir(workers_dir()))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.endswith(".json"):
            continue
        try:
            with open(entry.path, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict):
            continue
        pid = record.get("pid")
        reused = record.get("process_start") not in (None, _process_start(pid) if isinstance(pid, int) else None)
        if reused or not pid_alive(pid):
            try:
                os.unlink(entry.path)
            except OSError:
                pass
            continue
        if backend is None or record.get("backend") == backend:
            workers.append(record)
    return sorted(workers, key=lambda w: w.get("started") or 0)
