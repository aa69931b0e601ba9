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

The folder is private (see :mod:`lithops.private_files`): :func:`state_dir` creates it with mode 0700 and checks
on every use that it belongs to this user and that no one else can write it, raising
:class:`lithops.errors.PrivateFolderError` otherwise. Folders inside are 0700, files 0600, and nothing inside is
opened through a symbolic link.

Every writer here is best effort: failing to keep state never fails a call or a job (an unsafe folder is not
written to at all).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from lithops import private_files
from lithops.constants import TEMP_DIR
from lithops.errors import PrivateFolderError

logger = logging.getLogger(__name__)

#: Environment variable that moves the state folder (tests, several users sharing a tempdir).
STATE_DIR_ENV = "LITHOPS_STATE_DIR"
#: ``jobs.jsonl`` is moved to ``jobs.jsonl.1`` (replacing it) once it grows past this many bytes.
JOBS_FILE_MAX_BYTES = 4 * 1024 * 1024
#: Name of the folder, inside the logs folder, that holds the output of running calls.
RUNNING_DIR = ".running"


def state_dir() -> str:
    """The folder that holds the local state: created if missing, and checked to be private on every call.

    Raises:
        PrivateFolderError: another user owns it, or others can write it or a folder above it.
    """
    return _checked_root(os.environ.get(STATE_DIR_ENV) or TEMP_DIR)


def _checked_root(path: str) -> str:
    return private_files.private_dir(
        path, "Lithops's local state folder",
        f"Lithops keeps call output and job records there. Set {STATE_DIR_ENV} to a folder of your own (for "
        f"example ~/.lithops/state) to use another one.",
    )


def _state_subdir(folder: str, create: bool = True) -> int:
    """A descriptor of ``<state>/<a>/<b>`` (such as a job's logs folder), reached without following links.

    The state folder is found from the path itself (two levels up), so a worker whose environment names
    another state folder still writes where its client reads.
    """
    parent, name = os.path.split(os.path.normpath(folder))
    root, sub = os.path.split(parent)
    return private_files.open_dir(_checked_root(root), (sub, name), create=create)


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


def open_call_log(path: str) -> int:
    """Open a call-output file of the state folder (such as :func:`running_log_path`) for appending, emptied:
    mode 0600, its folders made as needed, no link followed. Raises OSError (or PrivateFolderError).
    """
    folder_fd = _state_subdir(os.path.dirname(path))
    try:
        return private_files.open_file(folder_fd, os.path.basename(path),
                                       os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
    finally:
        os.close(folder_fd)


def move_call_log(scratch: str, log_dir: str, call_id: str) -> None:
    """Move the output file ``scratch`` of a finished call to ``<log_dir>/<call_id>.log`` (``log_dir``, a job's
    logs folder, is made if missing), without following links. Raises OSError (or PrivateFolderError).
    """
    src_fd = _state_subdir(os.path.dirname(scratch), create=False)
    try:
        dst_fd = _state_subdir(log_dir)
        try:
            os.replace(os.path.basename(scratch), private_files.check_name(f"{call_id}.log"),
                       src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def save_call_log(job_key: str, call_id: str, data: bytes) -> None:
    """Keep a call's output (received from a worker elsewhere) where ``future.logs()`` and the CLI find it."""
    try:
        folder_fd = _state_subdir(job_logs_dir(job_key))
        try:
            private_files.write_atomic(folder_fd, f"{call_id}.log", data)
        finally:
            os.close(folder_fd)
    except OSError:
        pass


def _read_state_file(folder: str, name: str) -> bytes | None:
    """A file of ``<state>/<a>/<b>`` read without following links, or None when it is not there."""
    try:
        folder_fd = _state_subdir(folder, create=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fd = private_files.open_file(folder_fd, name, os.O_RDONLY)
    except OSError:
        return None
    finally:
        os.close(folder_fd)
    with open(fd, "rb") as f:
        return f.read()


def read_call_log(job_key: str, call_id: str) -> bytes | None:
    """A call's captured output, or None when it printed nothing (or it was cleaned)."""
    return _read_state_file(job_logs_dir(job_key), f"{call_id}.log")


def _entries(folder: str) -> list[os.DirEntry[str]]:
    """The entries of ``<state>/<a>/<b>`` (no link followed to reach it); none when it is missing."""
    try:
        folder_fd = _state_subdir(folder, create=False)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        with os.scandir(folder_fd) as entries:
            return list(entries)
    finally:
        os.close(folder_fd)


def job_call_logs(job_key: str) -> list[tuple[str, str]]:
    """``(call_id, path)`` of every call of a job that has captured output, in call order (regular files only)."""
    folder = job_logs_dir(job_key)
    calls = sorted(e.name[:-4] for e in _entries(folder)
                   if e.name.endswith(".log") and e.is_file(follow_symlinks=False))
    return [(c, os.path.join(folder, f"{c}.log")) for c in calls]


def jobs_with_logs() -> list[str]:
    """Keys of the jobs that have a logs folder."""
    try:
        folder_fd = private_files.open_dir(state_dir(), ("logs",))
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        with os.scandir(folder_fd) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    finally:
        os.close(folder_fd)


# -- job log -------------------------------------------------------------------------------------------------
def _append_job_record(record: dict[str, Any]) -> None:
    line = (json.dumps(record, default=str) + "\n").encode()
    try:
        root_fd = private_files.open_dir(state_dir())
        try:
            name = os.path.basename(jobs_file())
            fd = private_files.open_file(root_fd, name, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                os.write(fd, line)  # one write of one short line: appends from several processes do not interleave
                st = os.fstat(fd)
                if st.st_mode & 0o077:  # written by an older version
                    os.fchmod(fd, private_files.FILE_MODE)
            finally:
                os.close(fd)
            if st.st_size > JOBS_FILE_MAX_BYTES:
                os.replace(name, name + ".1", src_dir_fd=root_fd, dst_dir_fd=root_fd)
        finally:
            os.close(root_fd)
    except PrivateFolderError as exc:
        _warn_once(exc)
    except OSError:
        pass


_warned: set[str] = set()


def _warn_once(exc: PrivateFolderError) -> None:
    """Say once per process why nothing is kept in an unsafe state folder."""
    if str(exc) not in _warned:
        _warned.add(str(exc))
        logger.warning("%s Until then, no job records or call output are kept on this machine.", exc)


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


def _read_lines(root_fd: int, name: str) -> Iterator[dict[str, Any]]:
    try:
        fd = private_files.open_file(root_fd, name, os.O_RDONLY)
    except OSError:
        return
    with open(fd, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:  # a line cut short by a crash
                continue
            if isinstance(record, dict) and "job_key" in record:
                yield record


def read_jobs() -> list[dict[str, Any]]:
    """Every job of the job log, oldest first: its submission record, updated with its end if it ended.

    ``status`` is ``running``, ``done`` (every call succeeded), ``failed`` (some call failed) or ``unknown``
    (the client that submitted it exited before its calls finished).
    """
    jobs: dict[str, dict[str, Any]] = {}
    name = os.path.basename(jobs_file())
    root_fd = private_files.open_dir(state_dir())
    try:
        records = [r for n in (name + ".1", name) for r in _read_lines(root_fd, n)]
    finally:
        os.close(root_fd)
    for record in records:
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
    try:
        folder_fd = _state_subdir(os.path.join(logs_dir(), RUNNING_DIR), create=False)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        with os.scandir(folder_fd) as entries:
            names = [e.name for e in entries]
        now = time.time()
        for name in names:
            pid = name[:-4]
            if not name.endswith(".log") or not pid.isdigit() or pid_alive(int(pid)):
                continue
            try:
                st = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
                if not st.st_size or now - st.st_mtime > max_age:
                    os.unlink(name, dir_fd=folder_fd)
            except OSError:
                pass
    finally:
        os.close(folder_fd)


def _workers_fd(create: bool) -> int:
    return private_files.open_dir(state_dir(), (os.path.basename(workers_dir()),), create=create)


def register_worker(backend: str, **info: Any) -> None:
    """Register this process as a worker of ``backend`` until it exits (``lithops worker list``).

    Also clears what workers that are gone left behind (their registrations, their empty scratch files).
    """
    pid = os.getpid()
    name = f"{pid}.json"
    record = {"pid": pid, "backend": backend, "client_pid": os.getppid(), "started": time.time(),
              "host": socket.gethostname(), "process_start": _process_start(pid), **info}
    try:  # an unsafe state folder (PrivateFolderError is an OSError) is left alone: the worker runs calls anyway
        list_workers()
        prune_running_logs()
        folder_fd = _workers_fd(create=True)
        try:
            private_files.write_atomic(folder_fd, name, json.dumps(record, default=str).encode())
        finally:
            os.close(folder_fd)
    except OSError:
        return

    def unregister() -> None:
        try:
            folder_fd = _workers_fd(create=False)
            try:
                os.unlink(name, dir_fd=folder_fd)
            finally:
                os.close(folder_fd)
        except OSError:
            pass

    atexit.register(unregister)


def list_workers(backend: str | None = None) -> list[dict[str, Any]]:
    """The live registered workers (of ``backend`` if given), oldest first; files of dead ones are removed."""
    workers = []
    try:
        folder_fd = _workers_fd(create=False)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        with os.scandir(folder_fd) as entries:
            names = [e.name for e in entries if e.name.endswith(".json")]
        for name in names:
            try:
                with open(private_files.open_file(folder_fd, name, os.O_RDONLY), encoding="utf-8") as f:
                    record = json.load(f)
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict):
                continue
            pid = record.get("pid")
            reused = record.get("process_start") not in (None, _process_start(pid) if isinstance(pid, int) else None)
            if reused or not pid_alive(pid):
                try:
                    os.unlink(name, dir_fd=folder_fd)
                except OSError:
                    pass
                continue
            if backend is None or record.get("backend") == backend:
                workers.append(record)
    finally:
        os.close(folder_fd)
    return sorted(workers, key=lambda w: w.get("started") or 0)
