"""What the client hands a compute backend: one job, its function, and the input of each call."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lithops.constants import JOBS_PREFIX, PROTOCOL_VERSION


def call_id_of(index: int) -> str:
    """The call id of the call at ``index`` (five digits, zero padded, as in Lithops)."""
    return f"{index:05d}"


def job_key(executor_id: str, job_id: str) -> str:
    """The key that names a job everywhere (``<executor_id>-<job_id>``): futures, statuses, cancel lists."""
    return f"{executor_id}-{job_id}"


def job_prefix(executor_id: str, job_id: str) -> str:
    """Storage prefix of everything a job writes."""
    return f"{JOBS_PREFIX}/{executor_id}/{job_id}"


def cancelled_key(executor_id: str, job_id: str) -> str:
    """Storage key of a job's cancel marker: an empty object the client writes when it cancels the job
    (:meth:`lithops.backends.compute.ComputeBackend.cancel_jobs`); workers start no further call of the job once
    they see it (:class:`lithops.worker.handler.CancelCheck`).
    """
    return f"{job_prefix(executor_id, job_id)}/cancelled"


@dataclass
class JobRequest:
    """A job ready to run.

    Attributes:
        executor_id: id of the executor that made the job.
        job_id: id of the job within its executor (``A000`` call_async, ``M001`` map, ``R002`` reduce).
        function_name: the user function's qualified name, for logs.
        function: the pickled function.
        call_data: the pickled ``(args, kwargs)`` of each call, in call order.
        inject: names of the optional parameters the function wants (``id``, ``storage``).
        chunksize: how many calls a backend should give one worker invocation.
        extra_env: environment variables set around each call.
        execution_timeout: seconds a call may run.
        runtime_memory: MiB of memory asked for each worker, if the user set it.
        result_limit: largest pickled result in bytes, None for no limit.
        config: the part of the executor's config that workers receive (see ``lithops.config.worker_config``):
            for nested executors and the ``storage`` argument.
        storage_backend: import string of the storage backend class workers use (no plugin lookup there).
        func_key, data_key, data_ranges: where the function and the concatenated call data were uploaded,
            for storage-protocol backends (set by the client before ``invoke``).
    """

    executor_id: str
    job_id: str
    function_name: str
    function: bytes
    call_data: list[bytes]
    inject: list[str] = field(default_factory=list)
    chunksize: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    execution_timeout: float = 1800
    runtime_memory: int | None = None
    result_limit: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    storage_backend: str = ""
    submitted: float = field(default_factory=time.time)
    func_key: str | None = None
    data_key: str | None = None
    data_ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def job_key(self) -> str:
        """``<executor_id>-<job_id>``, unique per job."""
        return job_key(self.executor_id, self.job_id)

    @property
    def total_calls(self) -> int:
        """Number of calls in the job."""
        return len(self.call_data)

    @property
    def call_ids(self) -> list[str]:
        """Ids of every call, in order."""
        return [call_id_of(i) for i in range(len(self.call_data))]

    @property
    def prefix(self) -> str:
        """Storage prefix of the job's objects."""
        return job_prefix(self.executor_id, self.job_id)

    def chunks(self) -> list[list[str]]:
        """The call ids grouped ``chunksize`` at a time: one group per worker invocation."""
        ids = self.call_ids
        size = max(1, self.chunksize)
        return [ids[i : i + size] for i in range(0, len(ids), size)]

    def call_groups(self, limit: int) -> list[list[str]]:
        """:meth:`chunks`, merged into at most ``limit`` groups of near-equal size (for a backend that may run no
        more than ``limit`` invocations at once).
        """
        chunks = self.chunks()
        limit = max(1, limit)
        if len(chunks) <= limit:
            return chunks
        ids = self.call_ids
        size, extra = divmod(len(ids), limit)
        groups, start = [], 0
        for i in range(limit):
            end = start + size + (1 if i < extra else 0)
            groups.append(ids[start:end])
            start = end
        return groups

    def call_settings(self) -> dict[str, Any]:
        """What every call of the job runs with (``lithops.worker.calls.CallRunner``'s ``meta``): the part of
        :meth:`worker_payload` that a push backend hands its workers with the function and call data.
        """
        return {
            "executor_id": self.executor_id,
            "job_id": self.job_id,
            "inject": self.inject,
            "extra_env": self.extra_env,
            "execution_timeout": self.execution_timeout,
            "result_limit": self.result_limit,
            "storage_backend": self.storage_backend,
            "config": self.config,
            "host_submit_tstamp": self.submitted,
        }

    def worker_payload(self, call_ids: list[str], worker_processes: int | None = None) -> dict[str, Any]:
        """The JSON document that starts a worker on ``call_ids`` (docs/protocol.md, storage transport).

        ``worker_processes``: how many of the calls the worker runs at once, for backends whose workers run
        several (left out: one at a time).
        """
        if self.func_key is None or self.data_key is None:
            raise RuntimeError("the job was not uploaded to storage; the executor does that for storage backends")
        payload = {
            **self.call_settings(),
            "protocol": PROTOCOL_VERSION,
            "function_name": self.function_name,
            "call_ids": call_ids,
            "func_key": self.func_key,
            "data_key": self.data_key,
            "data_byte_ranges": {cid: list(self.data_ranges[int(cid)]) for cid in call_ids},
            "runtime_memory": self.runtime_memory,
        }
        if worker_processes is not None:
            payload["worker_processes"] = worker_processes
        return payload
