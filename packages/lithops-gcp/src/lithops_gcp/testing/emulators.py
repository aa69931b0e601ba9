"""Google's local emulators as processes on loopback: gcp-storage-emulator (Cloud Storage) and the Pub/Sub emulator
of the gcloud CLI. Each starts on a free port, is waited for within a bound, and is stopped with its process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

import requests

from lithops.testing.processes import free_port


def wait_http(url: str, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    """Return once ``url`` answers any HTTP status; ``RuntimeError`` if ``proc`` exits or ``timeout`` passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


class Emulator:
    """A local server process (its own process group), started on a free port of 127.0.0.1."""

    #: Seconds to wait for the emulator to answer.
    START_TIMEOUT = 60.0

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line that runs the emulator on :attr:`port`."""
        raise NotImplementedError

    def start(self) -> Emulator:
        """Start the emulator and wait until it answers."""
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        try:
            wait_http(f"http://{self.host}/", self.START_TIMEOUT, self.proc)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the emulator and every process it started."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None


class StorageEmulator(Emulator):
    """gcp-storage-emulator, in memory (with a larger listen backlog: see ``storage_emulator_main``)."""

    def command(self) -> list[str]:
        """``gcp-storage-emulator start --in-memory`` on :attr:`port`."""
        return [sys.executable, "-m", "lithops_gcp.testing.storage_emulator_main", "start", "--host=127.0.0.1",
                f"--port={self.port}", "--in-memory", "--quiet"]


def pubsub_emulator_path() -> str | None:
    """The Pub/Sub emulator of the machine's gcloud CLI, or None when gcloud or its emulator is absent."""
    if shutil.which("gcloud") is None:
        return None
    try:
        root = subprocess.run(["gcloud", "info", "--format=value(installation.sdk_root)"], capture_output=True,
                              text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = os.path.join(root, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")
    return path if root and os.access(path, os.X_OK) else None


class PubSubEmulator(Emulator):
    """Google's Pub/Sub emulator (java), as shipped with google-cloud-cli."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def command(self) -> list[str]:
        """``cloud-pubsub-emulator --host=127.0.0.1 --port=P``."""
        return [self.path, "--host=127.0.0.1", f"--port={self.port}"]
