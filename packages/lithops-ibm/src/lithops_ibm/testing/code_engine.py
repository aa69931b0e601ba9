"""A local Code Engine API (v2) at the HTTP level, strict where the real one is, whose job runs really run.

Projects, jobs, job runs and registry secrets are kept in memory. Requests need a bearer token that the local IAM
(:class:`lithops_ibm.testing.iam.FakeIAM`) issued and that has not expired. The API refuses what Code Engine
refuses: missing or malformed names, unknown projects, jobs and secrets, a CPU and memory pair Code Engine does not
offer, array specs it does not take, a resource group that does not exist. A new project is ``creating`` for a
few reads before it is ``active``, as a real project is for a while.

Each array index of a job run is a local process running the job's command (``python3`` is this Python; the image
is taken to hold this machine's Lithops code) with the environment Code Engine gives an instance: the job's and the
run's variables, ``JOB_INDEX``, ``JOB_ARRAY_SIZE``, ``CE_JOB``, ``CE_JOBRUN``, ``CE_SUBDOMAIN``, ``CE_DOMAIN``.
At most ``concurrency`` instances run at once; an instance past ``scale_max_execution_time`` is killed. A job run
is ``pending``, then ``running``, then ``completed`` or ``failed`` (any index failed), with ``status_details``
counting and listing the indices.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, FakeService
from lithops_ibm.testing.iam import FakeIAM

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PROJECT_NAME = re.compile(r"[A-Za-z0-9\-._: ]{1,128}")
_IMAGE = re.compile(r"([a-z0-9][-a-z0-9.:]*/)?[a-z0-9][-a-z0-9._/]*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)([MG])")
#: vCPUs and the memory (in G) Code Engine allows with them, as its documentation lists them.
_ALLOWED = {"0.125": (0.25, 0.5, 1), "0.25": (0.5, 1, 2), "0.5": (1, 2, 4), "1": (2, 4, 8), "2": (4, 8, 16),
            "4": (8, 16, 32), "6": (12, 24, 48), "8": (16, 32), "12": (24, 48)}
_PROJECT_ROUTE = r"/v2/projects/(?P<project>[^/]+)"


def _indices(spec: str) -> list[int]:
    """The indices of an array spec such as ``0-9,12``; a malformed spec is the API's 400."""
    out: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d{1,7})(?:-(\d{1,7}))?", part)
        if m is None:
            raise ApiError(400, "invalid_array_spec", f"scale_array_spec {spec!r} is not a list of indices and "
                                                     f"ranges such as 0-9,12")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first or last > 9999999:
            raise ApiError(400, "invalid_array_spec", f"scale_array_spec {spec!r} has a bad range {part}")
        out.extend(range(first, last + 1))
    if len(set(out)) != len(out):
        raise ApiError(400, "invalid_array_spec", f"scale_array_spec {spec!r} repeats indices")
    if len(out) > 1000:
        raise ApiError(400, "invalid_array_spec", f"scale_array_spec {spec!r} has {len(out)} indices; at most "
                                                 f"1000 are allowed")
    return sorted(out)


def _spec(indices: Iterable[int]) -> str:
    """Code Engine's compact spelling of indices: ``0-3,5``."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(indices):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def _check_resources(cpu: str, memory: str) -> None:
    m = _MEMORY.fullmatch(memory)
    if cpu not in _ALLOWED or m is None:
        raise ApiError(400, "invalid_resource_limits",
                       f"scale_cpu_limit {cpu!r} / scale_memory_limit {memory!r} is not a supported memory and CPU "
                       f"combination (see Supported memory and CPU combinations)")
    gigabytes = float(m.group(1)) / (1000 if m.group(2) == "M" else 1)
    if not any(abs(gigabytes - g) < 0.02 * g for g in _ALLOWED[cpu]):
        raise ApiError(400, "invalid_resource_limits",
                       f"memory {memory} is not supported with {cpu} vCPU; supported: "
                       f"{', '.join(f'{g:g}G' for g in _ALLOWED[cpu])}")


def _env(variables: Any, what: str) -> dict[str, str]:
    if variables is None:
        return {}
    if not isinstance(variables, list):
        raise ApiError(400, "invalid_input", f"{what} must be a list")
    out = {}
    for v in variables:
        if not isinstance(v, dict) or v.get("type", "literal") != "literal" or not v.get("name"):
            raise ApiError(400, "invalid_input", f"{what}: only literal variables with a name are supported here, "
                                                 f"got {v!r}")
        out[str(v["name"])] = str(v.get("value", ""))
    return out


class _Run:
    """A job run's indices and their processes."""

    def __init__(self, body: dict[str, Any], job: dict[str, Any], indices: list[int]) -> None:
        self.body, self.job, self.indices = body, job, indices
        self.state = {i: "pending" for i in indices}
        self.details: dict[str, dict[str, Any]] = {}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.deleted = False
        self.start_time: str | None = None
        self.completion_time: str | None = None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop an instance: its process and every process it started."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FakeCodeEngine(FakeService):
    """The Code Engine API v2 for one region, behind the local IAM ``iam``.

    Args:
        iam: the token service whose tokens are accepted.
        region: the region this API serves.
        resource_groups: ids of the resource groups that exist (``None`` is the account's default group).
        concurrency: instances that run at once, across job runs.
        images: image references that can be pulled (None: any); an instance of another image fails to start.
        project_ready_after: reads of a new project that still see it ``creating``.
    """

    def __init__(self, iam: FakeIAM, region: str = "us-south", resource_groups: Iterable[str] = ("default-group",),
                 concurrency: int = 4, images: Iterable[str] | None = None, project_ready_after: int = 2) -> None:
        super().__init__()
        self.iam, self.region = iam, region
        self.resource_groups = set(resource_groups)
        self.images = None if images is None else set(images)
        self.project_ready_after = project_ready_after
        self.projects: dict[str, dict[str, Any]] = {}
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.runs: dict[tuple[str, str], _Run] = {}
        self._reads: dict[str, int] = {}
        self._slots = threading.BoundedSemaphore(concurrency)
        p = _PROJECT_ROUTE
        self.route("GET", r"/v2/projects", self.list_projects)
        self.route("POST", r"/v2/projects", self.create_project)
        self.route("GET", p, self.get_project)
        self.route("DELETE", p, self.delete_project)
        self.route("GET", p + r"/jobs", self.list_jobs)
        self.route("POST", p + r"/jobs", self.create_job)
        self.route("GET", p + r"/jobs/(?P<name>[^/]+)", self.get_job)
        self.route("DELETE", p + r"/jobs/(?P<name>[^/]+)", self.delete_job)
        self.route("POST", p + r"/job_runs", self.create_job_run)
        self.route("GET", p + r"/job_runs", self.list_job_runs)
        self.route("GET", p + r"/job_runs/(?P<name>[^/]+)", self.get_job_run)
        self.route("DELETE", p + r"/job_runs/(?P<name>[^/]+)", self.delete_job_run)
        self.route("POST", p + r"/secrets", self.create_secret)
        self.route("GET", p + r"/secrets/(?P<name>[^/]+)", self.get_secret)

    # -- protocol --------------------------------------------------------------------------------------------
    def error_body(self, status: int, code: str, message: str) -> Any:
        """Code Engine's error JSON."""
        return {"errors": [{"code": code, "message": message}], "status_code": status, "trace": uuid.uuid4().hex}

    def authorize(self, request: FakeRequest) -> None:
        """Refuse requests without a valid IAM token, and requests without the API ``version`` date."""
        reason = self.iam.check(request.header("authorization"))
        if reason is not None:
            raise ApiError(401, "unauthorized", f"Unauthorized: {reason}")
        version = (request.query.get("version") or [""])[0]
        if version and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version):
            raise ApiError(400, "invalid_version", f"version {version!r} is not a date YYYY-MM-DD")

    def _project(self, request: FakeRequest, active: bool = True) -> dict[str, Any]:
        project = self.projects.get(request.params["project"])
        if project is None:
            raise ApiError(404, "project_not_found", f"Project with id '{request.params['project']}' was not found "
                                                     f"in region {self.region}")
        if active and project["status"] != "active":
            raise ApiError(409, "project_not_ready", f"Project '{project['name']}' is {project['status']}")
        return project

    # -- projects --------------------------------------------------------------------------------------------
    def _project_view(self, project: dict[str, Any]) -> dict[str, Any]:
        reads = self._reads.get(project["id"], 0)
        if project["status"] == "creating" and reads >= self.project_ready_after:
            project["status"] = "active"
        self._reads[project["id"]] = reads + 1
        return dict(project)

    def list_projects(self, request: FakeRequest) -> FakeResponse:
        """Projects of the account in this region, in pages of ``limit``."""
        limit = int((request.query.get("limit") or ["100"])[0])
        start = int((request.query.get("start") or ["0"])[0])
        with self.lock:
            every = [self._project_view(p) for p in self.projects.values()]
        page: dict[str, Any] = {"projects": every[start:start + limit], "limit": limit}
        if start + limit < len(every):
            page["next"] = {"start": str(start + limit), "href": f"/v2/projects?start={start + limit}"}
        return 200, page

    def create_project(self, request: FakeRequest) -> FakeResponse:
        """Create a project (``creating`` at first)."""
        body = request.json() or {}
        name = body.get("name")
        if not isinstance(name, str) or not _PROJECT_NAME.fullmatch(name):
            raise ApiError(400, "invalid_input", f"name {name!r} is required: 1-128 letters, digits, spaces, '-._:'")
        group = body.get("resource_group_id") or "default-group"
        if group not in self.resource_groups:
            raise ApiError(400, "resource_group_not_found", f"Resource group '{group}' was not found in the account")
        with self.lock:
            if any(p["name"] == name for p in self.projects.values()):
                raise ApiError(409, "project_already_exists", f"Project with name '{name}' already exists")
            pid = str(uuid.uuid4())
            project = self.projects[pid] = {
                "id": pid, "name": name, "region": self.region, "resource_group_id": group, "status": "creating",
                "created_at": _now(), "resource_type": "project_v2", "account_id": "local-account",
                "href": f"/v2/projects/{pid}", "crn": f"crn:v1:bluemix:public:codeengine:{self.region}:a/x:{pid}::"}
        return 202, dict(project)

    def get_project(self, request: FakeRequest) -> FakeResponse:
        """One project."""
        with self.lock:
            return 200, self._project_view(self._project(request, active=False))

    def delete_project(self, request: FakeRequest) -> FakeResponse:
        """Delete a project and everything in it."""
        project = self._project(request, active=False)
        with self.lock:
            for key in [k for k in self.runs if k[0] == project["id"]]:
                self._stop(self.runs.pop(key))
            self.projects.pop(project["id"])
        return 202, {}

    # -- secrets ---------------------------------------------------------------------------------------------
    def create_secret(self, request: FakeRequest) -> FakeResponse:
        """Create a registry secret (the only format Lithops uses)."""
        project = self._project(request)
        body = request.json() or {}
        name, data = body.get("name"), body.get("data") or {}
        if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 253:
            raise ApiError(400, "invalid_input", f"name {name!r} must be lower-case letters, digits and '-'")
        if body.get("format") != "registry":
            raise ApiError(400, "invalid_input", f"format {body.get('format')!r} is not supported here")
        missing = [k for k in ("server", "username", "password") if not data.get(k)]
        if missing:
            raise ApiError(400, "invalid_input", f"a registry secret needs data.{', data.'.join(missing)}")
        with self.lock:
            if (project["id"], name) in self.secrets:
                raise ApiError(409, "secret_already_exists", f"Secret '{name}' already exists")
            self.secrets[(project["id"], name)] = secret = {"name": name, "format": "registry",
                                                            "data": {"server": data["server"],
                                                                     "username": data["username"]}}
        return 201, secret

    def get_secret(self, request: FakeRequest) -> FakeResponse:
        """One secret (without its password)."""
        project = self._project(request)
        secret = self.secrets.get((project["id"], request.params["name"]))
        if secret is None:
            raise ApiError(404, "secret_not_found", f"Secret '{request.params['name']}' was not found")
        return 200, secret

    # -- jobs ------------------------------------------------------------------------------------------------
    def create_job(self, request: FakeRequest) -> FakeResponse:
        """Create a job (a template of job runs)."""
        project = self._project(request)
        body = request.json() or {}
        name = body.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 63:
            raise ApiError(400, "invalid_input", f"name {name!r} must be 1-63 lower-case letters, digits and '-', "
                                                 f"starting and ending with a letter or digit")
        image = body.get("image_reference")
        if not isinstance(image, str) or not _IMAGE.fullmatch(image):
            raise ApiError(400, "invalid_input", f"image_reference {image!r} is not an image reference")
        if body.get("run_mode", "task") not in ("task", "daemon"):
            raise ApiError(400, "invalid_input", f"run_mode {body.get('run_mode')!r} must be task or daemon")
        if body.get("run_mode") == "daemon" and "scale_max_execution_time" in body:
            raise ApiError(400, "invalid_input", "scale_max_execution_time is not allowed in daemon mode")
        timeout = int(body.get("scale_max_execution_time", 7200))
        if not 1 <= timeout <= 86400:
            raise ApiError(400, "invalid_input", f"scale_max_execution_time {timeout} must be 1-86400")
        cpu, memory = str(body.get("scale_cpu_limit", "1")), str(body.get("scale_memory_limit", "4G"))
        _check_resources(cpu, memory)
        secret = body.get("image_secret")
        if secret is not None and (project["id"], secret) not in self.secrets:
            raise ApiError(400, "secret_not_found", f"image_secret '{secret}' was not found in the project")
        env = _env(body.get("run_env_variables"), "run_env_variables")
        with self.lock:
            if (project["id"], name) in self.jobs:
                raise ApiError(409, "job_already_exists", f"Job with name '{name}' already exists")
            job = self.jobs[(project["id"], name)] = {
                **body, "name": name, "project_id": project["id"], "id": str(uuid.uuid4()), "created_at": _now(),
                "run_env_variables": [{"type": "literal", "name": k, "value": v} for k, v in env.items()],
                "scale_cpu_limit": cpu, "scale_memory_limit": memory, "scale_max_execution_time": timeout,
                "run_mode": body.get("run_mode", "task"), "resource_type": "job_v2", "entity_tag": "1"}
        return 201, job

    def _job(self, project: dict[str, Any], name: str) -> dict[str, Any]:
        job = self.jobs.get((project["id"], name))
        if job is None:
            raise ApiError(404, "job_not_found", f"Job with name '{name}' was not found in project "
                                                 f"'{project['name']}'")
        return job

    def get_job(self, request: FakeRequest) -> FakeResponse:
        """One job."""
        return 200, self._job(self._project(request), request.params["name"])

    def list_jobs(self, request: FakeRequest) -> FakeResponse:
        """The project's jobs."""
        project = self._project(request)
        return 200, {"jobs": [j for (pid, _), j in self.jobs.items() if pid == project["id"]], "limit": 100}

    def delete_job(self, request: FakeRequest) -> FakeResponse:
        """Delete a job (its runs go too)."""
        project = self._project(request)
        self._job(project, request.params["name"])
        with self.lock:
            self.jobs.pop((project["id"], request.params["name"]))
            for key, run in list(self.runs.items()):
                if key[0] == project["id"] and run.job["name"] == request.params["name"]:
                    self._stop(self.runs.pop(key))
        return 202, {}

    # -- job runs --------------------------------------------------------------------------------------------
    def create_job_run(self, request: FakeRequest) -> FakeResponse:
        """Submit a run of a job; its indices start as instances free up."""
        project = self._project(request)
        body = request.json() or {}
        if not body.get("job_name"):
            raise ApiError(400, "invalid_input", "job_name is required here (runs without a job are not supported)")
        job = self._job(project, str(body["job_name"]))
        for key in ("image_secret", "run_service_account"):
            if key in body:
                raise ApiError(400, "invalid_input", f"{key} must not be set on a job run that references a job")
        name = body.get("name") or f"{job['name']}-{uuid.uuid4().hex[:5]}"
        if not _NAME.fullmatch(name) or len(name) > 63:
            raise ApiError(400, "invalid_input", f"name {name!r} must be 1-63 lower-case letters, digits and '-'")
        indices = _indices(str(body.get("scale_array_spec") or job.get("scale_array_spec") or "0"))
        cpu = str(body.get("scale_cpu_limit") or job["scale_cpu_limit"])
        memory = str(body.get("scale_memory_limit") or job["scale_memory_limit"])
        _check_resources(cpu, memory)
        _env(body.get("run_env_variables"), "run_env_variables")
        with self.lock:
            if (project["id"], name) in self.runs:
                raise ApiError(409, "job_run_already_exists", f"Job run with name '{name}' already exists")
            run = self.runs[(project["id"], name)] = _Run({**body, "name": name}, job, indices)
        threading.Thread(target=self._execute, args=(project, run), name=f"ce-{name}", daemon=True).start()
        return 202, self._run_view(project, run)

    def _run_view(self, project: dict[str, Any], run: _Run) -> dict[str, Any]:
        with self.lock:
            groups: dict[str, list[int]] = {"pending": [], "running": [], "succeeded": [], "failed": []}
            for i, state in run.state.items():
                groups[state].append(i)
        if groups["failed"] and not groups["pending"] and not groups["running"]:
            status = "failed"
        elif len(groups["succeeded"]) == len(run.indices):
            status = "completed"
        elif groups["running"] or groups["succeeded"] or groups["failed"]:
            status = "running"
        else:
            status = "pending"
        details: dict[str, Any] = {"requested": len(run.indices)}
        for key, found in groups.items():
            details[key] = len(found)
            if found:
                details[f"{key}_indices"] = _spec(found)
        if run.start_time:
            details["start_time"] = run.start_time
        if run.completion_time and status in ("completed", "failed"):
            details["completion_time"] = run.completion_time
        if run.details:
            details["indices_details"] = dict(run.details)
        return {**run.body, "project_id": project["id"], "region": self.region, "job_name": run.job["name"],
                "image_reference": run.job["image_reference"], "resource_type": "job_run_v2", "status": status,
                "status_details": details, "scale_array_spec": _spec(run.indices)}

    def get_job_run(self, request: FakeRequest) -> FakeResponse:
        """One job run with its status."""
        project = self._project(request)
        run = self.runs.get((project["id"], request.params["name"]))
        if run is None:
            raise ApiError(404, "job_run_not_found", f"Job run with name '{request.params['name']}' was not found")
        return 200, self._run_view(project, run)

    def list_job_runs(self, request: FakeRequest) -> FakeResponse:
        """The project's job runs (of ``job_name`` when given)."""
        project = self._project(request)
        job_name: str | None = (request.query.get("job_name") or [None])[0]  # type: ignore[list-item]
        runs = [self._run_view(project, r) for (pid, _), r in list(self.runs.items())
                if pid == project["id"] and job_name in (None, r.job["name"])]
        return 200, {"job_runs": runs, "limit": 100}

    def delete_job_run(self, request: FakeRequest) -> FakeResponse:
        """Delete a job run: its running instances are killed and its pending ones never start."""
        project = self._project(request)
        with self.lock:
            run = self.runs.pop((project["id"], request.params["name"]), None)
        if run is None:
            raise ApiError(404, "job_run_not_found", f"Job run with name '{request.params['name']}' was not found")
        self._stop(run)
        return 202, {}

    # -- running instances -----------------------------------------------------------------------------------
    def kill_instances(self, run_name: str) -> int:
        """Kill the running instances of a job run, as Code Engine does when a node fails or memory runs out;
        return how many were running.
        """
        with self.lock:
            runs = [r for r in self.runs.values() if r.body["name"] == run_name]
        procs = [p for r in runs for p in list(r.procs.values()) if p.poll() is None]
        for proc in procs:
            _kill(proc)
        return len(procs)

    def _stop(self, run: _Run) -> None:
        run.deleted = True
        for proc in list(run.procs.values()):
            _kill(proc)

    def _execute(self, project: dict[str, Any], run: _Run) -> None:
        threads = []
        for index in run.indices:
            self._slots.acquire()
            if run.deleted:
                self._slots.release()
                break
            t = threading.Thread(target=self._instance, args=(project, run, index), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        run.completion_time = _now()

    def _fail(self, run: _Run, index: int, exit_code: int, reason: str) -> None:
        with self.lock:
            run.state[index] = "failed"
            run.details[str(index)] = {"status": "failed", "exit_code": exit_code, "reason": reason}

    def _instance(self, project: dict[str, Any], run: _Run, index: int) -> None:
        try:
            job = run.job
            run.start_time = run.start_time or _now()
            with self.lock:
                run.state[index] = "running"
            if self.images is not None and job["image_reference"] not in self.images:
                self._fail(run, index, 1, f"ImagePullBackOff: image {job['image_reference']} could not be pulled")
                return
            env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
            env.update(_env(job.get("run_env_variables"), "job"))
            env.update(_env(run.body.get("run_env_variables"), "run"))
            env.update(JOB_INDEX=str(index), JOB_ARRAY_SIZE=str(len(run.indices)), CE_JOB=job["name"],
                       CE_JOBRUN=run.body["name"], CE_SUBDOMAIN=project["id"][:12],
                       CE_DOMAIN=f"{self.region}.codeengine.appdomain.cloud")
            command = list(run.body.get("run_commands") or job.get("run_commands") or [])
            command += list(run.body.get("run_arguments") or job.get("run_arguments") or [])
            if not command:
                self._fail(run, index, 1, "the image has no command and the job sets none")
                return
            if command[0] in ("python3", "python"):
                command[0] = sys.executable
            # a session of its own: stopping an instance stops every process in it, as stopping a container does
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    start_new_session=True)
            run.procs[index] = proc
            if run.deleted:
                _kill(proc)
            limit = float(run.body.get("scale_max_execution_time") or job["scale_max_execution_time"])
            try:
                _, err = proc.communicate(timeout=limit)
            except subprocess.TimeoutExpired:
                _kill(proc)
                proc.communicate()
                self._fail(run, index, 137, f"DeadlineExceeded: the instance ran longer than {limit:g} s")
                return
            if proc.returncode == 0:
                with self.lock:
                    run.state[index] = "succeeded"
            else:
                tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
                code = proc.returncode
                reason = f"exit code {code}" if code > 0 else f"killed by signal {-code} (exit code {128 - code})"
                self._fail(run, index, code if code > 0 else 128 - code, reason + (f": {tail[0]}" if tail else ""))
        finally:
            self._slots.release()
