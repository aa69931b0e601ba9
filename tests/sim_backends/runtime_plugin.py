"""A compute backend with a runtime builder that records what it is asked to do in a JSON-lines file."""

import json

from lithops.backends import ComputeBackend, RuntimeBuilder
from lithops.plugins import ComputeBackendSpec, ConfigKey, RuntimeBuilderSpec, hookimpl

CONFIG = {"log_file": ConfigKey(type=str, doc="where the builder records its calls")}


class BuiltBackend(ComputeBackend):
    def invoke(self, job, report):
        raise NotImplementedError


class RecordingBuilder(RuntimeBuilder):
    def _record(self, **call):
        with open(self.config["log_file"], "a") as f:
            f.write(json.dumps(call) + "\n")

    def _deployed(self):
        deployed = {}
        try:
            with open(self.config["log_file"]) as f:
                for line in f:
                    call = json.loads(line)
                    if call["op"] == "deploy":
                        deployed[(call["name"], call["memory"])] = True
                    elif call["op"] == "delete":
                        deployed.pop((call["name"], call["memory"]), None)
        except FileNotFoundError:
            pass
        return deployed

    def build(self, name, file=None, extra_args=None):
        if name == "broken":
            raise RuntimeError("docker build failed: no Dockerfile here")
        self._record(op="build", name=name, file=file, extra_args=extra_args)

    def deploy(self, name, memory=None, timeout=None):
        self._record(op="deploy", name=name, memory=memory, timeout=timeout)
        return {"runtime_name": name, "python_version": "3.11", "memory": memory}

    def list(self):
        self._record(op="list")
        return [{"runtime_name": n, "memory": m, "version": "1.0"} for (n, m) in self._deployed()]

    def delete(self, name, memory=None):
        self._record(op="delete", name=name, memory=memory)


@hookimpl
def lithops_compute_backends():
    return [ComputeBackendSpec(name="built", mode="serverless", backend="sim_backends.runtime_plugin:BuiltBackend",
                               config=CONFIG)]


@hookimpl
def lithops_runtime_builders():
    return [RuntimeBuilderSpec(name="built", backend="sim_backends.runtime_plugin:RecordingBuilder")]
