"""The ``code_engine`` runtime builder: container images (Python, Lithops' code, boto3 and the IBM SDK core) pushed
to ``docker_server``, and the Code Engine jobs that run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends import containers
from lithops.backends.runtime import CLIENT_PYTHON, RuntimeBuilder
from lithops.errors import BackendError
from lithops.plugins.specs import ConfigKey
from lithops.standalone.bundle import build_bundle
from lithops_ibm.code_engine.backend import WORKER_COMMAND, CodeEngineBackend
from lithops_ibm.plugin import CE_CONFIG

#: What the worker image needs besides Python and Lithops' code (ibm_cos storage; the IAM authenticator).
IMAGE_PACKAGES = ["boto3>=1.28.57", "ibm-cloud-sdk-core>=3.16"]


class CodeEngineRuntimeBuilder(RuntimeBuilder):
    """Builds the images Code Engine jobs run, and creates, lists or deletes Lithops' jobs.

    Args:
        config: the ``code_engine`` section.
        lithops_config: the whole config.
    """

    config_schema: ClassVar[Mapping[str, ConfigKey]] = CE_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, lithops_config or {})
        self.backend = CodeEngineBackend(self.config, self.lithops_config)

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build image ``name`` (default: the default runtime) from the Dockerfile ``file`` or
        ``python:<client version>-slim``, and push it to the registry (logged in with docker_user/docker_password
        when set).
        """
        uri = name or self.backend.runtime_name()
        code_zip, _ = build_bundle(["lithops_ibm"])
        tool = containers.build_image(uri, code_zip, file, f"python:{CLIENT_PYTHON}-slim", WORKER_COMMAND,
                                      "linux/amd64", extra_args or (), IMAGE_PACKAGES)
        if self.config.get("docker_user") and self.config.get("docker_password"):
            containers.registry_login(tool, uri.split("/", 1)[0] if "/" in uri else self.config["docker_server"],
                                      self.config["docker_user"], self.config["docker_password"])
        try:
            containers.push_image(tool, uri)
        except BackendError as exc:
            raise BackendError(f"{exc} The registry refused the image: check code_engine.docker_server, "
                               f"docker_user and docker_password (a registry token with push rights), and that "
                               f"the namespace of {uri} exists.") from exc

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Create the project (when missing) and the job of image ``name``."""
        if timeout is not None:
            self.backend.config["runtime_timeout"] = timeout
        memory = int(memory or self.config["runtime_memory"])
        runtime = name or self.backend.runtime_name()
        job = self.backend.ensure_job(runtime, memory)
        return {"runtime_name": runtime, "memory": memory, "project_id": self.backend.ensure_project(), "job": job}

    def list(self) -> list[dict[str, Any]]:
        """Lithops' jobs in the project: ``[{'runtime_name', 'memory', 'version', 'job'}]``."""
        project_id = self.backend.ensure_project()
        jobs = self.backend.request("job list", "list_jobs", project_id=project_id, limit=100)["jobs"]
        return [{"runtime_name": j["image_reference"], "memory": _mebibytes(str(j.get("scale_memory_limit") or "")),
                 "version": j.get("entity_tag"), "job": j["name"]}
                for j in jobs if str(j.get("name", "")).startswith("lithops-")]

    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete the jobs of image ``name`` (of one memory size when given) and their runs."""
        project_id = self.backend.ensure_project()
        for job in self.list():
            if job["runtime_name"] != name:
                continue
            if memory is not None and job["memory"] != memory:
                continue
            self.backend.request(f"job deletion ({job['job']})", "delete_job", project_id=project_id, name=job["job"])


def _mebibytes(limit: str) -> int | None:
    """MiB of a Code Engine memory limit as Lithops writes it ('0.25G' -> 256), None for another spelling."""
    if limit.endswith("G"):
        try:
            return round(float(limit[:-1]) * 1024)
        except ValueError:
            return None
    return None
