"""A local stand-in of the Container Apps platform: for each app the fake Resource Manager provisions, replicas run
as local processes with the app's command and environment (secret references resolved), taking calls from the
app's Azurite queue exactly as real replicas would. The host's Python stands in for the image.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

from lithops_azure.testing.arm_fake import FakeArm


class LocalContainerApps:
    """Runs ``replicas`` processes per provisioned Container App (fewer when its maxReplicas is lower)."""

    def __init__(self, arm: FakeArm, replicas: int = 2, log_dir: str | None = None) -> None:
        self.arm, self.replicas, self.log_dir = arm, replicas, log_dir
        self.running: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.specs: dict[str, tuple[list[str], dict[str, str], int]] = {}
        self.lock = threading.Lock()
        arm.on_put.append(self._provisioned)
        arm.on_delete.append(self._deleted)

    def _provisioned(self, kind: str, app: dict[str, Any]) -> None:
        if kind != "Microsoft.App/containerApps":
            return
        self._deleted(kind, app)  # a new revision replaces the replicas
        props = app["properties"]
        secrets = {s["name"]: s.get("value", "") for s in props["configuration"].get("secrets") or []}
        container = props["template"]["containers"][0]
        env = dict(os.environ)
        for var in container.get("env") or []:
            env[var["name"]] = secrets[var["secretRef"]] if var.get("secretRef") else str(var.get("value", ""))
        command = [sys.executable if part in ("python3", "python") else part for part in container["command"]]
        count = min(self.replicas, int(props["template"]["scale"].get("maxReplicas") or 1))
        with self.lock:
            self.specs[app["name"]] = (command, env, count)
        self._start(app["name"])

    def _start(self, name: str) -> None:
        with self.lock:
            command, env, count = self.specs[name]
            self.running[name] = [
                subprocess.Popen(command, env=dict(env, CONTAINER_APP_REPLICA_NAME=f"{name}-{i}"),
                                 stdout=subprocess.DEVNULL, stderr=self._log(f"{name}-{i}"), start_new_session=True)
                for i in range(count)]

    def _log(self, replica: str) -> Any:
        """Where a replica's output goes: a file of ``log_dir`` when given."""
        if self.log_dir is None:
            return subprocess.DEVNULL
        return open(os.path.join(self.log_dir, f"{replica}.log"), "ab")

    def _deleted(self, kind: str, app: dict[str, Any]) -> None:
        with self.lock:
            procs = self.running.pop(app["name"], [])
        for proc in procs:
            _kill(proc)

    def restart(self, app: str) -> None:
        """Kill every replica of an app and everything they started (as the platform stops containers mid-call),
        then start new ones.
        """
        with self.lock:
            procs = self.running.pop(app, [])
        for proc in procs:
            _kill(proc)
        self._start(app)

    def stop(self) -> None:
        """Stop every replica this platform started."""
        with self.lock:
            apps = list(self.running)
        for name in apps:
            self._deleted("Microsoft.App/containerApps", {"name": name})


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
