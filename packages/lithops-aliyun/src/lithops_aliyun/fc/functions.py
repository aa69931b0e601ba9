"""Function Compute 3.0 control plane: naming, deploying, checking, invoking, listing and deleting Lithops' functions.

A runtime is, by ``deploy_mode``:

* ``runtime``: Lithops' code zip (``package.py``) on FC's managed Python runtime of the client's version, with the
  layer ``lithops_<name>_py<XY>`` that the runtime builder makes (the OSS SDK and the user's packages, wheels for
  FC's platform, no container tool); the default runtime's layer is built on first use;
* ``custom-container``: an image in Container Registry whose command serves FC's event requests (built by the
  runtime builder from a Dockerfile).

One function per runtime, memory size and Lithops version: ``[<namespace>-]lithops-<version>-<runtime>-<memory>mb``.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lithops.backends.ready import ReadyCache
from lithops.backends.runtime import CLIENT_PYTHON, check_runtime_python
from lithops.config import backend_settings
from lithops.constants import PROTOCOL_VERSION
from lithops.errors import BackendError, ConfigError
from lithops_aliyun import __version__
from lithops_aliyun.fc.package import CONTAINER_COMMAND, HANDLER, build_code_zip, code_digest
from lithops_aliyun.plugin import FC_CONFIG
from lithops_aliyun.session import credential_client, fc_error, region_of, split_endpoint

logger = logging.getLogger(__name__)

#: Regions with Function Compute 3.0 (fcv3.<region>.aliyuncs.com).
FC_REGIONS = ("cn-hangzhou", "cn-shanghai", "cn-qingdao", "cn-beijing", "cn-zhangjiakou", "cn-huhehaote",
              "cn-wulanchabu", "cn-shenzhen", "cn-chengdu", "cn-hongkong", "ap-southeast-1", "ap-southeast-2",
              "ap-southeast-3", "ap-southeast-5", "ap-southeast-7", "ap-northeast-1", "ap-northeast-2", "ap-south-1",
              "eu-central-1", "eu-west-1", "us-west-1", "us-east-1", "me-central-1")
#: Python versions of FC 3.0's managed runtimes (``python3.10`` ...).
FC_PYTHONS = ("3.9", "3.10", "3.12")
#: The port custom-container functions listen on.
CONTAINER_PORT = 9000
#: Role FC's console creates for functions (``AliyunFCDefaultRole``); the default of ``role_arn``.
DEFAULT_ROLE = "aliyunfcdefaultrole"
_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")
ENV_DIGEST, ENV_RUNTIME, ENV_PYTHON = "LITHOPS_CODE_DIGEST", "LITHOPS_RUNTIME", "LITHOPS_PYTHON"


def default_runtime_name() -> str:
    """Name of the built-in runtime for the client's Python version."""
    return f"default-runtime-v{sys.version_info.major}{sys.version_info.minor}"


def layer_name(runtime: str, python: str = CLIENT_PYTHON) -> str:
    """FC layer holding the dependencies of ``runtime`` for Python ``python``."""
    base = _NAME_RE.sub("-", runtime).strip("-_") or "runtime"
    return f"lithops_{base}_py{python.replace('.', '')}"[:64]


def function_name(runtime: str, memory: int, version: str = __version__, namespace: str = "") -> str:
    """The FC function of a runtime and memory size (at most 64 characters, starting with a letter)."""
    short = runtime.rsplit("/", 1)[-1]
    base = _NAME_RE.sub("-", short).strip("-_") or "runtime"
    ns = _NAME_RE.sub("-", namespace).strip("-_")
    head = f"{ns + '-' if ns else ''}lithops-{_NAME_RE.sub('-', version).strip('-')}"
    name = f"{head}-{base}-{memory}mb"
    if len(name) > 64 or short != runtime:
        digest = hashlib.sha1(f"{runtime}|{memory}|{version}".encode(), usedforsecurity=False).hexdigest()[:8]
        tail = f"-{digest}-{memory}mb"
        name = f"{head}-{base}"[: 64 - len(tail)].rstrip("-_") + tail
    return name


@dataclass
class FunctionInfo:
    """A deployed function Lithops can invoke."""

    name: str
    runtime: str
    memory: int
    python: str


class FCFunctions:
    """Control-plane operations of the ``aliyun_fc`` backend and its runtime builder.

    Args:
        config: the ``aliyun_fc`` section (its defaults filled in here, as a backend's are).
    """

    #: Seconds to wait for a function to become Active (a container image is pulled first).
    ACTIVE_TIMEOUT = 600.0

    def __init__(self, config: Mapping[str, Any]) -> None:
        from alibabacloud_fc20230330.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        self.config = backend_settings("aliyun_fc", config, FC_CONFIG)
        self.region = region_of(self.config, "aliyun_fc")
        if not self.config.get("endpoint") and self.region not in FC_REGIONS:
            raise ConfigError(f"aliyun_fc: Function Compute 3.0 is not available in region {self.region!r}. Choose "
                              f"one of {', '.join(FC_REGIONS)} (aliyun.region), or set aliyun_fc.endpoint.")
        endpoint = self.config.get("endpoint") or f"fcv3.{self.region}.aliyuncs.com"
        self.scheme, host = split_endpoint(str(endpoint))
        self.endpoint = f"{self.scheme}://{host}"
        self.client = Client(Config(credential=credential_client(self.config), region_id=self.region,
                                    endpoint=host, protocol=self.scheme, connect_timeout=10_000,
                                    read_timeout=60_000,
                                    max_idle_conns=int(self.config["invoke_pool_threads"]) + 4))
        self.mode = str(self.config["deploy_mode"])
        self._ready: ReadyCache[tuple[str, int], FunctionInfo] = ReadyCache()

    # -- names -----------------------------------------------------------------------------------------------
    def runtime_name(self, runtime: str | None = None) -> str:
        """The runtime to use: the given one, the configured one, or the default."""
        name = runtime or self.config.get("runtime")
        if name:
            return str(name)
        if self.mode == "custom-container":
            raise ConfigError("aliyun_fc: deploy_mode custom-container needs aliyun_fc.runtime, the image to run "
                              "(build one with 'lithops runtime build -b aliyun_fc -f Dockerfile <registry>/<ns>/"
                              "<name>:<tag>').")
        return default_runtime_name()

    def function_name(self, runtime: str | None, memory: int) -> str:
        """The function of ``runtime`` (resolved) with ``memory`` MiB."""
        return function_name(self.runtime_name(runtime), memory, namespace=str(self.config.get("namespace") or ""))

    @property
    def prefix(self) -> str:
        """How the names of this deployment's functions start."""
        return function_name("x", 128, namespace=str(self.config.get("namespace") or "")).rsplit("-x-", 1)[0] + "-"

    def role(self) -> str:
        """``role_arn``, or FC's default role of the account (``account_id`` needed)."""
        if self.config.get("role_arn"):
            return str(self.config["role_arn"])
        if not self.config.get("account_id"):
            raise ConfigError("aliyun_fc: set role_arn (the RAM role the functions run as, e.g. "
                              "acs:ram::<account id>:role/lithops-fc-role), or account_id in the aliyun section to "
                              f"use acs:ram::<account id>:role/{DEFAULT_ROLE}.")
        return f"acs:ram::{self.config['account_id']}:role/{DEFAULT_ROLE}"

    # -- calls -----------------------------------------------------------------------------------------------
    def _call(self, what: str, method: str, *args: Any) -> Any:
        try:
            return getattr(self.client, method)(*args)
        except Exception as exc:
            raise fc_error(exc, what, self.endpoint) from None

    def get(self, name: str) -> dict[str, Any] | None:
        """GetFunction of ``name`` as a dict, or None when it does not exist."""
        from alibabacloud_fc20230330 import models

        try:
            response = self.client.get_function(name, models.GetFunctionRequest())
        except Exception as exc:
            if getattr(exc, "code", None) == "FunctionNotFound":
                return None
            raise fc_error(exc, f"FC GetFunction {name}", self.endpoint) from None
        result: dict[str, Any] = response.body.to_map()
        return result

    def ensure(self, runtime: str | None, memory: int) -> FunctionInfo:
        """The function for ``runtime`` and ``memory``: deployed when missing, updated when its code or settings
        differ, checked to run the client's Python version (cached after the first call).
        """
        name = self.runtime_name(runtime)
        return self._ready.get((name, memory), lambda: self._ensure(name, memory))

    def forget(self, runtime: str | None, memory: int) -> None:
        """Drop the cached state of a function (deleted or changed behind our back)."""
        self._ready.forget((self.runtime_name(runtime), memory))

    def _ensure(self, runtime: str, memory: int) -> FunctionInfo:
        name = self.function_name(runtime, memory)
        if self.mode == "runtime":
            self.check_managed_python(runtime)
        found = self.get(name)
        if found is None:
            found = self.deploy(runtime, memory)
        else:
            changes = self.drift(found, self.settings(runtime, memory))
            if changes:
                logger.info("Updating FC function %s: %s", name, ", ".join(sorted(changes)))
                self.update(name, changes)
            found = self._wait_active(name)
        self.configure_async(name)
        python = self.python_of(found)
        check_runtime_python(python, f"the Function Compute runtime '{runtime}' (function {name})",
                             self._python_fix(runtime, python))
        return FunctionInfo(name=name, runtime=runtime, memory=memory, python=python)

    def check_managed_python(self, runtime: str) -> None:
        """Refuse, before anything is deployed, a client Python FC has no managed runtime of."""
        if CLIENT_PYTHON not in FC_PYTHONS:
            raise BackendError(
                f"Function Compute has no managed Python {CLIENT_PYTHON} runtime (it has "
                f"{', '.join(FC_PYTHONS)}), so deploy_mode 'runtime' cannot run runtime '{runtime}' for this client. "
                f"Run the client with one of those versions, or set aliyun_fc.deploy_mode: custom-container with an "
                f"image of Python {CLIENT_PYTHON} ('lithops runtime build -b aliyun_fc -f Dockerfile <image>'). "
                f"Nothing was sent."
            )

    def _python_fix(self, runtime: str, python: str) -> str:
        if self.mode == "custom-container":
            return (f"rebuild the image from a Python {CLIENT_PYTHON} base ('lithops runtime build -b aliyun_fc -f "
                    f"Dockerfile {runtime}'), or run this client with Python {python}")
        return (f"run this client with Python {python}, or redeploy runtime '{runtime}' from Python {CLIENT_PYTHON} "
                f"('lithops runtime deploy -b aliyun_fc {runtime}')")

    def python_of(self, function: Mapping[str, Any]) -> str:
        """The Python ``major.minor`` a deployed function runs: from its managed runtime, or asked from the image
        (a synchronous metadata invocation, whose protocol version is checked too).
        """
        fc_runtime = str(function.get("runtime") or "")
        if fc_runtime.startswith("python"):
            return fc_runtime[len("python"):]
        meta = self.metadata(str(function["functionName"]))
        if int(meta.get("protocol") or 0) != PROTOCOL_VERSION:
            raise BackendError(
                f"the image of FC function {function['functionName']} has Lithops job protocol {meta.get('protocol')} "
                f"(lithops {meta.get('lithops_version')}), this client speaks {PROTOCOL_VERSION}. Rebuild the image "
                f"with this client's lithops-core and lithops-aliyun."
            )
        return str(meta["python_version"])

    def metadata(self, name: str) -> dict[str, Any]:
        """Ask a function for its runtime metadata (a synchronous invocation)."""
        from alibabacloud_fc20230330 import models

        request = models.InvokeFunctionRequest(body=json.dumps({"lithops_action": "metadata"}).encode())
        headers = models.InvokeFunctionHeaders(x_fc_invocation_type="Sync")
        from darabonba.runtime import RuntimeOptions

        response = self._call(f"FC InvokeFunction {name} (metadata)", "invoke_function_with_options", name, request,
                              headers, RuntimeOptions(read_timeout=120_000))
        body = response.body.read() if hasattr(response.body, "read") else response.body
        if (response.headers or {}).get("x-fc-error-type") or int(response.status_code or 0) >= 300:
            raise BackendError(f"FC function {name} failed to report its runtime metadata: {body[:500]!r}. Check "
                               f"that its image has lithops-core and lithops-aliyun installed and its command is "
                               f"{' '.join(CONTAINER_COMMAND)}.")
        result: dict[str, Any] = json.loads(body)
        return result

    # -- deploying -------------------------------------------------------------------------------------------
    def settings(self, runtime: str, memory: int) -> dict[str, Any]:
        """The function settings the config decides (CreateFunction/UpdateFunction fields)."""
        env_vars = self.config.get("env_vars") or {}
        if isinstance(env_vars, list):
            env_vars = {e["name"]: e["value"] for e in env_vars}
        env = {str(k): str(v) for k, v in env_vars.items()}
        timeout = int(self.config["runtime_timeout"])
        env.update({"LITHOPS_RUNTIME_TIMEOUT": str(timeout), ENV_RUNTIME: runtime,
                    "LITHOPS_WORKER_PROCESSES": str(self.worker_processes(memory))})
        wanted: dict[str, Any] = {
            "role": self.role(), "memorySize": memory, "timeout": timeout, "environmentVariables": env,
            "description": f"Lithops worker, runtime {runtime}, lithops-aliyun {__version__}",
        }
        if self.config.get("runtime_cpu"):
            wanted["cpu"] = float(self.config["runtime_cpu"])
        if self.mode == "runtime":
            env[ENV_DIGEST] = code_digest()
            wanted["layers"] = [self.layer_arn(runtime)]
        return wanted

    def worker_processes(self, memory: int) -> int:
        """Calls one invocation runs at once: ``worker_processes``, or with AUTO the vCPUs (1 per 2 GiB; FC's
        default ratio).
        """
        value = self.config["worker_processes"]
        if value == "AUTO":
            cpu = self.config.get("runtime_cpu") or memory / 2048
            return max(1, int(cpu))
        return int(value)

    @staticmethod
    def drift(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
        """The settings of ``wanted`` that the deployed function ``current`` lacks."""
        have = dict(current)
        have["layers"] = [layer.get("arn") for layer in current.get("layers") or []]
        have["environmentVariables"] = dict(current.get("environmentVariables") or {})
        return {k: v for k, v in wanted.items() if have.get(k) != v}

    def update(self, name: str, changes: Mapping[str, Any]) -> None:
        """UpdateFunction with ``changes`` (and this client's code when the code digest changed)."""
        from alibabacloud_fc20230330 import models

        body = models.UpdateFunctionInput().from_map(dict(changes))
        if self.mode == "runtime" and ENV_DIGEST in (changes.get("environmentVariables") or {}):
            body.code = models.InputCodeLocation(zip_file=base64.b64encode(build_code_zip()).decode())
        self._call(f"FC UpdateFunction {name}", "update_function", name, models.UpdateFunctionRequest(body=body))

    def deploy(self, runtime: str, memory: int) -> dict[str, Any]:
        """Create the function of ``runtime`` with ``memory`` MiB, wait until it is Active, and return it."""
        from alibabacloud_fc20230330 import models

        name = self.function_name(runtime, memory)
        spec: dict[str, Any] = {"functionName": name, **self.settings(runtime, memory), "instanceConcurrency": 1,
                                "diskSize": 512, "internetAccess": True}
        if self.mode == "runtime":
            spec.update(runtime=f"python{CLIENT_PYTHON}", handler=HANDLER,
                        code={"zipFile": base64.b64encode(build_code_zip()).decode()})
        else:
            spec.update(runtime="custom-container", handler="not-used",
                        customContainerConfig={"image": runtime, "port": CONTAINER_PORT,
                                               "command": list(CONTAINER_COMMAND)})
        logger.info("Deploying FC function %s (runtime %s, %d MiB)", name, runtime, memory)
        request = models.CreateFunctionRequest(body=models.CreateFunctionInput().from_map(spec))
        try:
            self.client.create_function(request)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if code != "FunctionAlreadyExists":  # deployed meanwhile by another client: fine
                error = fc_error(exc, f"FC CreateFunction {name}", self.endpoint)
                if "role" in str(exc).lower():
                    raise BackendError(f"{error} Check that aliyun_fc.role_arn ({spec['role']}) names an existing "
                                       f"RAM role whose trust policy allows fc.aliyuncs.com, and that the RAM user "
                                       f"may pass it (ram:PassRole).") from None
                raise error from None
        return self._wait_active(name)

    def configure_async(self, name: str) -> None:
        """The function's asynchronous invocation config: no retries (an invocation whose calls all wrote their
        status must never run again), and async tasks, so the backend can see failed invocations and stop them.
        """
        from alibabacloud_fc20230330 import models

        config = models.PutAsyncInvokeConfigInput(max_async_retry_attempts=0, async_task=True)
        self._call(f"FC PutAsyncInvokeConfig {name}", "put_async_invoke_config", name,
                   models.PutAsyncInvokeConfigRequest(body=config))

    def _wait_active(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.ACTIVE_TIMEOUT
        while True:
            found = self.get(name)
            if found is None:
                raise BackendError(f"FC function {name} disappeared while Lithops deployed it; run again.")
            state, update = found.get("state"), found.get("lastUpdateStatus")
            if state in (None, "Active") and update in (None, "", "Successful"):
                return found
            if state == "Failed" or update == "Failed":
                raise BackendError(f"FC function {name} failed to deploy: {found.get('stateReason') or ''} "
                                   f"{found.get('lastUpdateStatusReason') or ''}. Check the runtime (image) and the "
                                   f"role, then delete the function ('lithops runtime delete -b aliyun_fc') and run "
                                   f"again.")
            if time.monotonic() > deadline:
                raise BackendError(f"FC function {name} was not Active after {self.ACTIVE_TIMEOUT:g} s.")
            time.sleep(0.3)

    # -- layers ----------------------------------------------------------------------------------------------
    def latest_layer(self, runtime: str) -> str | None:
        """ARN of the newest layer version of ``runtime`` for the client's Python, or None."""
        from alibabacloud_fc20230330 import models

        name = layer_name(runtime)
        try:
            response = self.client.list_layer_versions(name, models.ListLayerVersionsRequest(limit=100))
        except Exception as exc:
            if getattr(exc, "code", None) in ("LayerNotFound", "LayerVersionNotFound"):
                return None
            raise fc_error(exc, f"FC ListLayerVersions {name}", self.endpoint) from None
        versions = response.body.layers or []
        if not versions:
            return None
        return str(max(versions, key=lambda v: int(v.version or 0)).layer_version_arn)

    def layer_arn(self, runtime: str) -> str:
        """The layer of ``runtime``; the default runtime's is built and published on first use."""
        arn = self.latest_layer(runtime)
        if arn is not None:
            return arn
        if runtime != default_runtime_name():
            raise BackendError(
                f"FC runtime '{runtime}' has no layer for Python {CLIENT_PYTHON} (layer {layer_name(runtime)}). "
                f"Build it first: 'lithops runtime build -b aliyun_fc -f requirements.txt {runtime}', or unset "
                f"aliyun_fc.runtime to use the default runtime."
            )
        from lithops_aliyun.fc.runtime import build_layer_zip

        logger.info("Building the dependency layer of FC runtime %s (first use)", runtime)
        return self.publish_layer(runtime, build_layer_zip([]))

    def publish_layer(self, runtime: str, zip_bytes: bytes) -> str:
        """Publish ``zip_bytes`` as a new version of the layer of ``runtime``; return its ARN."""
        from alibabacloud_fc20230330 import models

        name = layer_name(runtime)
        body = models.CreateLayerVersionInput(
            code=models.InputCodeLocation(zip_file=base64.b64encode(zip_bytes).decode()),
            compatible_runtime=[f"python{CLIENT_PYTHON}"],
            description=f"Lithops runtime {runtime}: dependencies for Python {CLIENT_PYTHON}")
        response = self._call(f"FC CreateLayerVersion {name}", "create_layer_version", name,
                              models.CreateLayerVersionRequest(body=body))
        return str(response.body.layer_version_arn)

    # -- invoking --------------------------------------------------------------------------------------------
    def invoke_async(self, name: str, body: bytes, task_id: str) -> Any:
        """One asynchronous invocation as async task ``task_id`` (the SDK's exception when it fails); the response
        when FC accepted it.
        """
        from alibabacloud_fc20230330 import models
        from darabonba.runtime import RuntimeOptions

        request = models.InvokeFunctionRequest(body=body)
        headers = models.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id)
        return self.client.invoke_function_with_options(name, request, headers,
                                                        RuntimeOptions(read_timeout=30_000, connect_timeout=10_000))

    def async_tasks(self, name: str, prefix: str) -> builtins.list[Any]:
        """The async tasks of function ``name`` whose id starts with ``prefix`` (the SDK's AsyncTask models)."""
        from alibabacloud_fc20230330 import models

        tasks: builtins.list[Any] = []
        token = None
        while True:
            response = self._call(f"FC ListAsyncTasks {name}", "list_async_tasks", name,
                                  models.ListAsyncTasksRequest(prefix=prefix, limit=100, next_token=token))
            tasks.extend(response.body.tasks or [])
            token = response.body.next_token
            if not token:
                return tasks

    def stop_async_task(self, name: str, task_id: str) -> None:
        """Stop an async task that has not finished."""
        from alibabacloud_fc20230330 import models

        self._call(f"FC StopAsyncTask {name} {task_id}", "stop_async_task", name, task_id,
                   models.StopAsyncTaskRequest())

    # -- listing and deleting --------------------------------------------------------------------------------
    def list(self) -> builtins.list[dict[str, Any]]:
        """Lithops' functions: ``[{'runtime_name', 'memory', 'version', 'function_name'}]``."""
        from alibabacloud_fc20230330 import models

        result, token = [], None
        while True:
            response = self._call("FC ListFunctions", "list_functions",
                                  models.ListFunctionsRequest(prefix=self.prefix, limit=100, next_token=token))
            for fn in response.body.functions or []:
                env = fn.environment_variables or {}
                result.append({"runtime_name": env.get(ENV_RUNTIME, "?"), "memory": fn.memory_size,
                               "version": str(fn.description or "").rsplit("lithops-aliyun ", 1)[-1],
                               "function_name": fn.function_name})
            token = response.body.next_token
            if not token:
                return result

    def delete(self, runtime: str | None, memory: int | None = None) -> builtins.list[str]:
        """Delete the functions of ``runtime`` (of one memory size, or all); return their names."""
        runtime = self.runtime_name(runtime)
        deleted = []
        for item in self.list():
            if item["runtime_name"] != runtime or (memory is not None and item["memory"] != memory):
                continue
            try:
                self.client.delete_function(item["function_name"])
            except Exception as exc:
                if getattr(exc, "code", None) != "FunctionNotFound":
                    raise fc_error(exc, f"FC DeleteFunction {item['function_name']}", self.endpoint) from None
            self.forget(runtime, item["memory"])
            deleted.append(item["function_name"])
        return deleted
