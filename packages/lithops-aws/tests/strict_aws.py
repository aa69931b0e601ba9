"""A validating HTTP layer in front of moto, for the tests only: it refuses the Batch requests AWS refuses and moto
accepts, and can report Batch jobs and compute environments in the states a real account reaches (an image that
cannot be pulled, an environment turned INVALID) that moto never reaches without Docker.

Errors are answered the way Batch answers them: HTTP 400 with ``{"__type": "ClientException", "message": ...}``.
Every other request goes to moto unchanged.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import ThreadingHTTPServer
from typing import Any

from lithops.backends.helpers import request_body
from lithops.testing.http_fake import QuietHandler
from lithops_aws.plugin import FARGATE_CPU_MEMORY
from lithops_aws.testing.moto_server import forward, free_port

#: Allocation strategies each EC2-type compute environment takes (AWS Batch API reference).
STRATEGIES = {"EC2": {"BEST_FIT", "BEST_FIT_PROGRESSIVE"},
              "SPOT": {"BEST_FIT", "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"}}


def compute_environment_problem(request: dict[str, Any]) -> str | None:
    """What Batch's CreateComputeEnvironment says about a request moto would accept, or None."""
    resources = request.get("computeResources") or {}
    kind = resources.get("type")
    if kind in ("EC2", "SPOT"):
        if not resources.get("instanceRole"):
            return "Error executing request, Exception : Instance role is required."
        strategy = resources.get("allocationStrategy")
        if strategy is None and kind == "SPOT":
            return "Error executing request, Exception : allocationStrategy is required for SPOT."
        if strategy is not None and strategy not in STRATEGIES[kind]:
            return f"Error executing request, Exception : allocationStrategy {strategy} is not valid for {kind}."
        if kind == "SPOT" and strategy == "BEST_FIT" and not resources.get("spotIamFleetRole"):
            return "Error executing request, Exception : spotIamFleetRole is required for BEST_FIT SPOT."
    return None


def job_definition_problem(request: dict[str, Any]) -> str | None:
    """What Batch's RegisterJobDefinition says about vCPU and memory values moto would accept, or None."""
    props = request.get("containerProperties") or {}
    values = {r["type"]: r["value"] for r in props.get("resourceRequirements") or []}
    if "VCPU" not in values:
        return None
    cpu, memory = float(values["VCPU"]), int(values.get("MEMORY") or 0)
    if "FARGATE" in (request.get("platformCapabilities") or []):
        if memory not in FARGATE_CPU_MEMORY.get(cpu, ()):
            return (f"Fargate resource requirements (VCPU {values['VCPU']}, MEMORY {memory}) are not supported. "
                    f"See the Fargate task size documentation.")
    elif cpu < 1 or cpu != int(cpu):
        return f"Error executing request, Exception : vCPU value {values['VCPU']} is not valid for EC2 resources."
    return None


class StrictAWS:
    """The validating layer: ``url`` stands for Batch (and anything else) with moto's state behind it.

    Args:
        moto_url: the moto server requests are forwarded to.
        hold_jobs: report jobs the test has not set as RUNNABLE (moto without Docker marks every job SUCCEEDED
            at once; a real job waits for capacity and for its containers, which the tests run themselves).
    """

    def __init__(self, moto_url: str, hold_jobs: bool = False) -> None:
        self.moto = urllib.parse.urlsplit(moto_url)
        self.hold_jobs = hold_jobs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.refused: list[str] = []
        #: the JSON bodies of the Batch requests received, by path (``/v1/createjobqueue``, ...)
        self.requests: dict[str, list[dict[str, Any]]] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._environments: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- states a real account reaches ---------------------------------------------------------------------------
    def set_job(self, job_id: str, status: str, reason: str = "", container_reason: str = "") -> None:
        """Report job (or array child ``parent:index``) ``job_id`` in ``status`` with these reasons from now on."""
        with self._lock:
            self._jobs[job_id] = {"status": status, "statusReason": reason, "containerReason": container_reason}

    def set_environment(self, name: str, status: str, state: str = "ENABLED", reason: str = "") -> None:
        """Report compute environment ``name`` with this status, state and reason from now on."""
        with self._lock:
            self._environments[name] = {"status": status, "state": state, "statusReason": reason}

    # -- rewriting moto's answers ----------------------------------------------------------------------------------
    def _override(self, job: dict[str, Any]) -> None:
        state = self._jobs.get(job.get("jobId", ""))
        if state is None:
            if self.hold_jobs and not job.get("isTerminated") and not job.get("statusReason"):
                job["status"] = "RUNNABLE"
            return
        job["status"], job["statusReason"] = state["status"], state["statusReason"]
        if state["containerReason"]:
            job.setdefault("container", {})["reason"] = state["containerReason"]

    def rewrite(self, path: str, request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        """moto's answer with the states set by the test."""
        with self._lock:
            if path == "/v1/describejobs":
                for job in answer.get("jobs", []):
                    self._override(job)
                    children = [k for k in self._jobs if k.startswith(job["jobId"] + ":")]
                    if children:  # the parent keeps its status until every child ends, and counts them
                        summary = job.setdefault("arrayProperties", {}).setdefault("statusSummary", {})
                        for child in children:
                            state = self._jobs[child]["status"]
                            summary[state] = summary.get(state, 0) + 1
            elif path == "/v1/listjobs" and request.get("arrayJobId"):
                parent, wanted = request["arrayJobId"], request.get("jobStatus")
                summaries = [s for s in answer.get("jobSummaryList", []) if s["jobId"] not in self._jobs]
                for job_id, state in self._jobs.items():
                    if job_id.startswith(parent + ":") and state["status"] == (wanted or state["status"]):
                        summary = {"jobId": job_id, "jobName": "child", "status": state["status"],
                                   "statusReason": state["statusReason"],
                                   "arrayProperties": {"index": int(job_id.rsplit(":", 1)[1])}}
                        if state["containerReason"]:
                            summary["container"] = {"reason": state["containerReason"]}
                        summaries.append(summary)
                answer["jobSummaryList"] = [s for s in summaries if wanted is None or s["status"] == wanted]
            elif path == "/v1/describecomputeenvironments":
                for env in answer.get("computeEnvironments", []):
                    env.update(self._environments.get(env.get("computeEnvironmentName", ""), {}))
        return answer

    def problem(self, path: str, request: dict[str, Any]) -> str | None:
        """The error Batch would answer to this request, or None."""
        if path == "/v1/createcomputeenvironment":
            return compute_environment_problem(request)
        if path == "/v1/registerjobdefinition":
            return job_definition_problem(request)
        return None

    # -- serving ---------------------------------------------------------------------------------------------------
    def start(self) -> StrictAWS:
        """Serve on 127.0.0.1."""
        layer = self

        class Handler(_Handler):
            strict = layer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="strict-aws", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> StrictAWS:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


_REWRITTEN = ("/v1/describejobs", "/v1/listjobs", "/v1/describecomputeenvironments")


class _Handler(QuietHandler):
    strict: StrictAWS

    def _handle(self) -> None:
        body = request_body(self.headers, self.rfile)
        assert isinstance(body, bytes)
        path = urllib.parse.urlsplit(self.path).path
        try:
            request = json.loads(body) if body and path.startswith("/v1/") else {}
        except ValueError:
            request = {}
        if request:
            self.strict.requests.setdefault(path, []).append(request)
        problem = self.strict.problem(path, request) if self.command == "POST" else None
        if problem:
            self.strict.refused.append(problem)
            answer = json.dumps({"__type": "ClientException", "message": problem}).encode()
            self.send_whole(400, answer, {"Content-Type": "application/json", "x-amzn-ErrorType": "ClientException"})
            return
        status, out, data = forward(self.strict.moto, self.command, self.path, self.headers, body)
        if status == 200 and data and path in _REWRITTEN:
            data = json.dumps(self.strict.rewrite(path, request, json.loads(data))).encode()
        self.send_whole(status, data, out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle
