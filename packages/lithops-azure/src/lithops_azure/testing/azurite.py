"""Azurite, Microsoft's Blob and Queue emulator (npm package ``azurite``), as a local server for tests.

The executable is ``$LITHOPS_AZURITE`` when set, else the one installed under ``$LITHOPS_AZURITE_DIR`` (default
``~/.cache/lithops-azurite``; ``.ci/run`` installs it there), else it is installed there with npm on first use.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from lithops.testing.processes import free_port, stop_process

#: The Azurite version the tests pin (3.36 and later need node 22).
VERSION = "3.35.0"
#: Azurite's development account name. Its key is not the published one: each server gets a random key
#: (``AZURITE_ACCOUNTS``), so other users of the machine cannot plant blobs or queue messages (payloads) in it.
ACCOUNT = "devstoreaccount1"


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed and cannot be (no node/npm)."""


def install_dir() -> str:
    """Where Azurite is (or gets) installed."""
    return os.environ.get("LITHOPS_AZURITE_DIR") or os.path.expanduser("~/.cache/lithops-azurite")


def executable() -> str:
    """The azurite command, installing it with npm when missing."""
    given = os.environ.get("LITHOPS_AZURITE")
    if given:
        return given
    folder = install_dir()
    path = os.path.join(folder, "node_modules", ".bin", "azurite")
    if os.path.exists(path):
        return path
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise AzuriteUnavailable("Azurite needs node and npm (apt-get install nodejs npm), then "
                                 f"'npm install --prefix {folder} azurite@{VERSION}'")
    os.makedirs(folder, exist_ok=True)
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", folder, f"azurite@{VERSION}"],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not os.path.exists(path):
        raise AzuriteUnavailable(f"npm could not install azurite@{VERSION}: {proc.stderr[-1000:]}")
    return path


class Azurite:
    """An Azurite process serving Blob and Queue on ``host`` (default loopback), in memory."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.blob_port = self.queue_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        #: This server's account key (random).
        self.key = base64.b64encode(secrets.token_bytes(64)).decode()

    @property
    def connection_string(self) -> str:
        """The connection string of the development account on this server."""
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={self.key};"
                f"BlobEndpoint=http://{self.host}:{self.blob_port}/{ACCOUNT};"
                f"QueueEndpoint=http://{self.host}:{self.queue_port}/{ACCOUNT};")

    def start(self, timeout: float = 30.0) -> Azurite:
        """Start the server and wait (bounded) until both services answer."""
        command = executable()
        self.blob_port, self.queue_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [command, "--blobHost", self.host, "--blobPort", str(self.blob_port), "--queueHost", self.host,
             "--queuePort", str(self.queue_port), "--tableHost", self.host, "--tablePort", str(free_port()),
             "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            env={**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{self.key}"})
        deadline = time.monotonic() + timeout
        for port in (self.blob_port, self.queue_port):
            while not _answers(self.host, port):
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    raise AzuriteUnavailable(f"azurite exited with {self.proc.returncode}: {err[-1000:]}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise AzuriteUnavailable(f"azurite did not answer on port {port} within {timeout:.0f} s")
                time.sleep(0.1)
        return self

    def stop(self) -> None:
        """Stop the server (its own process only)."""
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _answers(host: str, port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://{host}:{port}/", timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False
