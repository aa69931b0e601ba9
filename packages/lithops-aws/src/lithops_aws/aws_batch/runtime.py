"""The ``aws_batch`` runtime builder: container images (Python, boto3 and Lithops' code) pushed to ECR."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends.runtime import RuntimeBuilder
from lithops.plugins.specs import ConfigKey
from lithops_aws import containers
from lithops_aws.aws_batch.backend import WORKER_COMMAND, BatchBackend
from lithops_aws.aws_lambda.functions import CLIENT_PYTHON
from lithops_aws.plugin import BATCH_CONFIG, apply_aliases
from lithops_aws.session import aws_errors


class BatchRuntimeBuilder(RuntimeBuilder):
    """Builds the images Batch jobs run, and lists or deletes Lithops' job definitions.

    Args:
        config: the ``aws_batch`` section.
        lithops_config: the whole config.
    """

    config_schema: ClassVar[Mapping[str, ConfigKey]] = BATCH_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(apply_aliases(config, "aws_batch"), lithops_config or {})
        self.backend = BatchBackend(self.config, self.lithops_config)

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Build image ``name`` from the Dockerfile ``file`` (or ``python:<client version>-slim``) and push it."""
        uri = self.backend.image_uri(name or self.backend.runtime_name())
        containers.build_and_push(self.config, uri, file, f"python:{CLIENT_PYTHON}-slim", WORKER_COMMAND,
                                  "linux/amd64", extra_args or (), pip_install=["boto3>=1.28.57"])

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Create the queue and the job definition of image ``name``."""
        if timeout is not None:
            self.backend.config["runtime_timeout"] = timeout
        memory = int(memory or self.config["runtime_memory"])
        queue = self.backend.ensure_queue()
        arn = self.backend.ensure_definition(name or self.backend.runtime_name(), memory)
        return {"runtime_name": name, "memory": memory, "job_queue": queue, "job_definition": arn}

    def list(self) -> list[dict[str, Any]]:
        """Lithops' active job definitions: ``[{'runtime_name', 'memory', 'version'}]``."""
        result = []
        with aws_errors("Batch DescribeJobDefinitions", self.backend.endpoint):
            pages = self.backend.batch.get_paginator("describe_job_definitions").paginate(status="ACTIVE")
            for page in pages:
                for d in page["jobDefinitions"]:
                    if not d["jobDefinitionName"].startswith("lithops-"):
                        continue
                    memory = next((int(r["value"]) for r in d["containerProperties"].get("resourceRequirements", [])
                                   if r["type"] == "MEMORY"), None)
                    result.append({"runtime_name": (d.get("tags") or {}).get("lithops_runtime", "?"),
                                   "memory": memory, "version": d["revision"], "arn": d["jobDefinitionArn"]})
        return result

    def delete(self, name: str, memory: int | None = None) -> None:
        """Deregister the job definitions of image ``name``."""
        for d in self.list():
            if d["runtime_name"] == name and (memory is None or d["memory"] == memory):
                with aws_errors("Batch DeregisterJobDefinition", self.backend.endpoint):
                    self.backend.batch.deregister_job_definition(jobDefinition=d["arn"])
