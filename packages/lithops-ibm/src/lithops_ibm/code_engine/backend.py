"""The ``code_engine`` compute backend (serverless mode, storage transport): one array job run per Lithops job.

Lithops finds (or creates) the project ``project_name`` in the region, a registry secret when registry
credentials are set, and one job per runtime (image, vCPUs, memory, timeout, variables) whose command is
``python3 -m lithops_ibm.code_engine.entry_point``. The worker payloads of a Lithops job are written to storage as
one JSON list; a job run with that many array indices runs them, index ``i`` (``JOB_INDEX``) payload ``i``.
Before the first job run of a runtime, a one-index run writes the image's runtime metadata to storage, so a runtime
whose Python is not the client's is refused before any work is sent. A watcher
(``lithops.backends.array_jobs``) reads each job run's status and fails at once the calls of indices that failed
without writing a status (image pull errors, crashes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from lithops.backends.array_jobs import ArrayJobs, ArrayRun, poll_interval
from lithops.backends.compute import ComputeBackend, StatusReporter
from lithops.backends.payloads import put_payload
from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.errors import BackendError, ConfigError
from lithops.job.job import JobRequest
from lithops.plugins.specs import ConfigKey
from lithops.storage.job_storage import JobStorage
from lithops.storage.utils import StorageNoSuchKeyError
from lithops_ibm import __version__
from lithops_ibm.iam import authenticator, call, describe, iam_endpoint
from lithops_ibm.plugin import CE_CONFIG, CE_MAX_ARRAY_SIZE, ce_problems, memory_limit

logger = logging.getLogger(__name__)

WORKER_COMMAND = ["python3", "-m", "lithops_ibm.code_engine.entry_point"]
#: Name of the registry secret Lithops keeps in the project.
REGISTRY_SECRET = "lithops-registry"
#: Where runtime metadata is kept in the storage bucket.
METADATA_PREFIX = "lithops.runtimes/code_engine"
#: The API version date sent with every request.
API_VERSION = "2025-01-01"


def default_runtime_name(config: Mapping[str, Any]) -> str:
    """The image Lithops builds for Code Engine when ``code_engine.runtime`` is unset."""
    return (f"{config['docker_server']}/{config['docker_user']}/lithops-ce-default-v"
            f"{CLIENT_PYTHON.replace('.', '')}:{__version__}")


def clean_name(text: str, limit: int = 63) -> str:
    """``text`` as a Code Engine resource name: lower-case letters, digits and '-', at most ``limit`` long."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:limit].strip("-")


class CodeEngineBackend(ComputeBackend):
    """Runs calls as Code Engine array job runs.

    Args:
        config: the ``code_engine`` section (see ``lithops_ibm.plugin.CE_CONFIG``).
        lithops_config: the whole executor config.
        storage: the executor's storage (payload lists and runtime metadata go there).
    """

    transport = "storage"
    #: No start-up bound: instances wait for the project's capacity; the watcher reports real failures.
    start_timeout = None
    ships_modules = True
    #: Seconds to wait for a new project to become active.
    PROJECT_READY_TIMEOUT = 600.0
    #: Least seconds between two status reads of the submitted job runs.
    MIN_WATCH_INTERVAL = 0.5
    config_schema: ClassVar[Mapping[str, ConfigKey]] = CE_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any], *,
                 storage: JobStorage | None = None) -> None:
        super().__init__(config, lithops_config, storage=storage)
        problems = ce_problems(self.config)
        if problems:
            raise ConfigError("code_engine: " + "; ".join(problems) + ".")
        from ibm_code_engine_sdk.code_engine_v2 import CodeEngineV2

        self.url = str(self.config.get("endpoint")
                       or f"https://api.{self.config['region']}.codeengine.cloud.ibm.com/v2").rstrip("/")
        self.api = CodeEngineV2(authenticator=authenticator(str(self.config["iam_api_key"]),
                                                            iam_endpoint(self.config)),
                                version=API_VERSION)
        self.api.set_service_url(self.url)
        self.api.set_http_config({"timeout": (10, 60)})
        if int(self.config["connection_retries"]):
            self.api.enable_retries(max_retries=int(self.config["connection_retries"]), retry_interval=5.0)
        self._lock = threading.Lock()
        self._project_id: str | None = None
        self._jobs: set[str] = set()
        self._checked: set[str] = set()
        #: The submitted job runs, watched by reading their status.
        self.runs = ArrayJobs(self, poll_interval(self, self.MIN_WATCH_INTERVAL), "lithops-ce-watch")

    def request(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """One API request; its JSON answer, or a Lithops error that carries Code Engine's message."""
        return call(f"Code Engine {what}", self.url, getattr(self.api, method), *args, **kwargs).get_result()

    def runtime_name(self) -> str:
        """The configured image, or the default one."""
        return str(self.config.get("runtime") or default_runtime_name(self.config))

    def worker_processes(self) -> int:
        """Calls one instance runs at once: ``worker_processes``, or one per vCPU with AUTO."""
        value = self.config["worker_processes"]
        return max(1, int(-(-float(self.config["runtime_cpu"]) // 1))) if value == "AUTO" else int(value)

    @property
    def max_workers(self) -> int:
        """Array indices of one job run at most."""
        return min(int(self.config["max_workers"]), CE_MAX_ARRAY_SIZE)

    # -- project, secret, job --------------------------------------------------------------------------------
    def ensure_project(self) -> str:
        """The id of project ``project_name``, created (and waited for) when the region has none by that name."""
        if self._project_id is not None:
            return self._project_id
        name = str(self.config["project_name"])
        project = self.find_project(name)
        if project is None:
            logger.info("Creating Code Engine project %s", name)
            args = {"resource_group_id": self.config["resource_group_id"]} if self.config.get(
                "resource_group_id") else {}
            project = self.request(f"project creation ({name!r} in {self.config.get('region') or self.url})",
                                 "create_project", name=name, **args)
        deadline = time.monotonic() + self.PROJECT_READY_TIMEOUT
        while project.get("status") != "active":
            if project.get("status") in ("creation_failed", "hard_deleted", "soft_deleted", "deleting"):
                raise BackendError(f"Code Engine project {name!r} is {project['status']}: choose another "
                                   f"code_engine.project_name, or restore it in the IBM Cloud console.")
            if time.monotonic() > deadline:
                raise BackendError(f"Code Engine project {name!r} was not active after {self.PROJECT_READY_TIMEOUT:g}"
                                   f" s (status {project.get('status')}).")
            time.sleep(0.5)
            project = self.request(f"project {name!r}", "get_project", id=project["id"])
        self._project_id = str(project["id"])
        return self._project_id

    def find_project(self, name: str) -> dict[str, Any] | None:
        """The project called ``name`` in this region, or None."""
        start = None
        while True:
            page = self.request("project list", "list_projects", limit=100, start=start)
            for project in page.get("projects", []):
                if project.get("name") == name:
                    return dict(project)
            start = (page.get("next") or {}).get("start")
            if not start:
                return None

    def ensure_secret(self, project_id: str) -> str | None:
        """The registry secret's name when registry credentials are set (created when missing), else None."""
        if not (self.config.get("docker_user") and self.config.get("docker_password")):
            return None
        from ibm_cloud_sdk_core import ApiException

        try:
            self.api.get_secret(project_id=project_id, name=REGISTRY_SECRET)
        except ApiException as exc:
            if exc.status_code != 404:
                raise BackendError(f"Code Engine registry secret: {describe(exc)}") from exc
            self.request("registry secret creation", "create_secret", project_id=project_id, format="registry",
                       name=REGISTRY_SECRET, data={"server": self.config["docker_server"],
                                                   "username": self.config["docker_user"],
                                                   "password": self.config["docker_password"]})
        return REGISTRY_SECRET

    def job_name(self, runtime: str, memory: int) -> str:
        """The job of a runtime: its name changes with the image, vCPUs, memory, timeout and variables."""
        settings = json.dumps([runtime, float(self.config["runtime_cpu"]), memory, self.config["runtime_timeout"],
                               sorted(self._env_vars().items()), bool(self.config.get("docker_password"))])
        digest = hashlib.sha1(settings.encode(), usedforsecurity=False).hexdigest()[:8]
        image = clean_name(runtime.rsplit("/", 1)[-1], 30)
        return clean_name(f"lithops-{image}-{memory}mb-{digest}")

    def _env_vars(self) -> dict[str, str]:
        env = self.config.get("env_vars") or {}
        if isinstance(env, list):  # Lithops 3.x writes [{'name': ..., 'value': ...}]
            env = {e["name"]: e["value"] for e in env}
        return {str(k): str(v) for k, v in env.items()}

    def ensure_job(self, runtime: str, memory: int) -> str:
        """The job of ``runtime`` with ``memory`` MiB, created when missing; returns its name."""
        name = self.job_name(runtime, memory)
        if name in self._jobs:
            return name
        problems = ce_problems({**self.config, "runtime_memory": memory})
        if problems:
            raise ConfigError("code_engine: " + "; ".join(problems) + ".")
        project_id = self.ensure_project()
        from ibm_cloud_sdk_core import ApiException

        try:
            self.api.get_job(project_id=project_id, name=name)
        except ApiException as exc:
            if exc.status_code != 404:
                raise BackendError(f"Code Engine job {name}: {describe(exc)}") from exc
            env = {**self._env_vars(), "LITHOPS_RUNTIME_TIMEOUT": str(self.config["runtime_timeout"])}
            secret = self.ensure_secret(project_id)
            logger.info("Creating Code Engine job %s for runtime %s", name, runtime)
            self.request(f"job creation ({name} for runtime {runtime})", "create_job", project_id=project_id,
                       image_reference=runtime, name=name, run_commands=WORKER_COMMAND, run_mode="task",
                       scale_cpu_limit=f"{float(self.config['runtime_cpu']):g}",
                       scale_memory_limit=memory_limit(memory),
                       scale_max_execution_time=int(self.config["runtime_timeout"]), scale_retry_limit=0,
                       run_env_variables=[{"type": "literal", "name": k, "value": v} for k, v in env.items()],
                       **({"image_secret": secret} if secret else {}))
        self._jobs.add(name)
        return name

    # -- the runtime's Python --------------------------------------------------------------------------------
    def _read_json(self, key: str) -> dict[str, Any]:
        storage, _ = self.job_storage()
        data = storage.get_object(storage.bucket, key)
        return dict(json.loads(data if isinstance(data, bytes) else data.read()))

    def check_runtime(self, job_name: str, runtime: str, storage_spec: dict[str, Any]) -> dict[str, Any]:
        """The runtime's metadata (read from storage, or written there by a one-index job run first); refuses a
        runtime whose Python is not the client's.
        """
        key = f"{METADATA_PREFIX}/{job_name}.json"
        try:
            metadata = self._read_json(key)
        except StorageNoSuchKeyError:
            metadata = self._run_metadata(job_name, runtime, storage_spec, key)
        check_runtime_python(metadata.get("python_version"), f"the Code Engine runtime {runtime!r} (job {job_name})",
                             f"build the runtime for this Python ('lithops runtime build -b code_engine {runtime}' "
                             f"bases it on python:{CLIENT_PYTHON}-slim), or set code_engine.runtime to an image "
                             f"with Python {CLIENT_PYTHON}")
        return metadata

    def _run_metadata(self, job_name: str, runtime: str, storage_spec: dict[str, Any], key: str) -> dict[str, Any]:
        project_id = self.ensure_project()
        run_name = clean_name(f"{job_name[:50]}-meta-{int(time.time()) % 100000}")
        self.request(f"job run {run_name} (runtime metadata)", "create_job_run", project_id=project_id,
                   job_name=job_name, name=run_name, scale_array_spec="0",
                   run_env_variables=[{"type": "literal", "name": "LITHOPS_CE_METADATA", "value": key},
                                      {"type": "literal", "name": "LITHOPS_CE_STORAGE",
                                       "value": json.dumps(storage_spec)}])
        deadline = time.monotonic() + float(self.config["runtime_timeout"]) + 120
        while True:
            run = self.request(f"job run {run_name}", "get_job_run", project_id=project_id, name=run_name)
            if run.get("status") == "completed":
                break
            if run.get("status") == "failed":
                raise BackendError(f"the Code Engine runtime {runtime!r} could not start Lithops' entry point (job "
                                   f"run {run_name}: {_reason(run, 0)}). Build the image with 'lithops runtime "
                                   f"build -b code_engine {runtime}' and check that Code Engine can pull it.")
            if time.monotonic() > deadline:
                raise BackendError(f"the Code Engine job run {run_name} that reads the metadata of runtime "
                                   f"{runtime!r} did not finish in time; check the project's job runs.")
            time.sleep(0.25)
        return self._read_json(key)

    # -- the contract ----------------------------------------------------------------------------------------
    def invoke(self, job: JobRequest, report: StatusReporter) -> None:
        """Write the job's payloads to storage, check the runtime, submit one job run that runs them, watch it."""
        memory = int(job.runtime_memory or self.config["runtime_memory"])
        job.execution_timeout = min(job.execution_timeout, float(self.config["runtime_timeout"]))
        runtime = self.runtime_name()
        with self._lock:
            job_name = self.ensure_job(runtime, memory)
        groups = job.call_groups(self.max_workers)
        payloads = [job.worker_payload(ids, self.worker_processes()) for ids in groups]
        reference = put_payload(self, job, f"{job.prefix}/ce_payloads.json", payloads)
        with self._lock:
            if job_name not in self._checked:
                self.check_runtime(job_name, runtime, reference["storage"])
                self._checked.add(job_name)
        run_name = clean_name(f"lithops-{job.job_key}")
        self.request(f"job run of {job.job_key}", "create_job_run", project_id=self.ensure_project(),
                   job_name=job_name, name=run_name, scale_array_spec=f"0-{len(payloads) - 1}",
                   run_env_variables=[{"type": "literal", "name": "LITHOPS_CE_PAYLOADS", "value": reference["key"]},
                                      {"type": "literal", "name": "LITHOPS_CE_STORAGE",
                                       "value": json.dumps(reference["storage"])}])
        self.runs.watch(ArrayRun(job.executor_id, job.job_id, run_name, groups, report))
        logger.debug("ExecutorID %s | JobID %s - Code Engine job run %s with %d indices", job.executor_id,
                     job.job_id, run_name, len(payloads))

    # -- watching the submitted job runs (lithops.backends.array_jobs) ---------------------------------------
    def poll_runs(self, runs: list[ArrayRun]) -> None:
        """One read of every watched job run: the calls of failed indices that wrote no status are failed with Code
        Engine's reason; finished runs are no longer watched.
        """
        from ibm_cloud_sdk_core import ApiException

        project_id = self.ensure_project()
        for run in runs:
            try:
                found = self.api.get_job_run(project_id=project_id, name=run.name).get_result()
            except ApiException as exc:
                if exc.status_code != 404:
                    raise
                reason = f"the job run no longer exists in the project ({describe(exc)})"
                self.runs.fail(run, range(len(run.groups)), reason)
                self.runs.finish(run)
                continue
            failed = _parse_indices((found.get("status_details") or {}).get("failed_indices") or "")
            for index in sorted(failed - run.failed):
                self.runs.fail(run, [index], _reason(found, index))
            if found.get("status") in ("completed", "failed"):
                self.runs.finish(run)

    def index_failure(self, run: ArrayRun, index: int, reason: str) -> str:
        """The error of the calls of a failed index that wrote no status."""
        return f"Code Engine job run {run.name} (index {index}) of {run.job_key} failed: {reason}"

    def stop_run(self, run: ArrayRun, reason: str) -> None:
        """Delete a job run (running instances stop, pending ones never start)."""
        if self._project_id is not None:
            self.api.delete_job_run(project_id=self._project_id, name=run.name)

    def cancel(self, job_keys: Collection[str]) -> None:
        """Delete the job runs of these Lithops jobs (running instances stop, pending ones never start)."""
        self.runs.cancel(job_keys)

    def close(self) -> None:
        """Stop watching the submitted job runs (a later invoke watches its own again)."""
        self.runs.close()


def _parse_indices(spec: str) -> set[int]:
    """The indices of Code Engine's compact list, e.g. ``0-3,5``."""
    out: set[int] = set()
    for part in filter(None, spec.split(",")):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def _reason(run: Mapping[str, Any], index: int) -> str:
    """Code Engine's reason for a failed index, where it gives one."""
    details = ((run.get("status_details") or {}).get("indices_details") or {}).get(str(index)) or {}
    return str(details.get("reason") or f"the instance failed (job run status {run.get('status')})")
