"""Keeping a developer's own Lithops setup out of a test: the config file, the local state folder (job log,
caches) and a worker config inherited from the environment.
"""

from __future__ import annotations

import os

import pytest

from lithops.constants import CONFIG_FILE_ENV, WORKER_CONFIG_ENV
from lithops.local_state import STATE_DIR_ENV


def isolate_from_user_config(monkeypatch: pytest.MonkeyPatch, folder: str | os.PathLike[str]) -> None:
    """Point Lithops at an empty config file and a state folder inside `folder` (usually pytest's ``tmp_path``),
    and drop any inherited worker config; `monkeypatch` undoes it after the test.

    A package's ``conftest.py`` calls it from its own autouse fixture, next to the settings of its cloud::

        @pytest.fixture(autouse=True)
        def _no_user_config(monkeypatch, tmp_path):
            isolate_from_user_config(monkeypatch, tmp_path)
            monkeypatch.delenv("FOO_CLOUD_PROFILE", raising=False)
    """
    empty = os.path.join(folder, "empty_config.yaml")
    with open(empty, "w"):
        pass
    monkeypatch.setenv(CONFIG_FILE_ENV, empty)
    monkeypatch.setenv(STATE_DIR_ENV, os.path.join(folder, "state"))
    monkeypatch.delenv(WORKER_CONFIG_ENV, raising=False)
