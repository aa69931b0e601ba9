"""The ``gcp_functions`` runtime builder: Cloud Build makes a function's environment from its source zip when it is
deployed, so building here is deploying. A runtime is named by its requirements file (or ``default``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lithops.backends.runtime import RuntimeBuilder
from lithops.plugins.specs import ConfigKey
from lithops_gcp.gcp_functions.functions import CloudFunctions, runtime_key
from lithops_gcp.plugin import FUNCTIONS_CONFIG


class FunctionsRuntimeBuilder(RuntimeBuilder):
    """Deploys, lists and deletes ``gcp_functions`` runtimes."""

    config_schema: ClassVar[Mapping[str, ConfigKey]] = FUNCTIONS_CONFIG

    def __init__(self, config: Mapping[str, Any], lithops_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, lithops_config or {})

    def _functions(self, requirements: str | None) -> CloudFunctions:
        runtime = None if requirements in (None, "default") else requirements
        return CloudFunctions(dict(self.config, runtime=runtime))

    def build(self, name: str, file: str | None = None, extra_args: list[str] | None = None) -> None:
        """Deploy the function of the requirements file ``file`` (or ``name``): Cloud Build builds it remotely."""
        self.deploy(file or name)

    def deploy(self, name: str, memory: int | None = None, timeout: int | None = None) -> dict[str, Any]:
        """Deploy (or update) the function of the requirements file ``name`` (``default``: none); its metadata."""
        functions = self._functions(name)
        if timeout is not None:
            functions.config["runtime_timeout"] = timeout
        memory = int(memory or self.config["runtime_memory"])
        info = functions.ensure(memory)
        return {"runtime_name": name, "runtime_key": runtime_key(functions.requirements()), "function": info.name,
                "uri": info.uri, "topic": info.topic, "memory": memory, "python_version": info.python}

    def list(self) -> list[dict[str, Any]]:
        """The functions Lithops deployed in the region."""
        return self._functions(None).list()

    def delete(self, name: str, memory: int | None = None) -> None:
        """Delete the functions of runtime ``name`` (of one memory size, or all)."""
        self._functions(None).delete(name, memory)
