"""lithops.testing.isolate_from_user_config: a developer's config, state folder and worker config stay out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lithops.config import load_config
from lithops.local_state import state_dir
from lithops.testing import isolate_from_user_config


def test_a_developers_config_state_and_worker_config_are_replaced(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    own = tmp_path / "own_config.yaml"
    own.write_text("lithops:\n  backend: aws_lambda\n  storage: aws_s3\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(own))
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(tmp_path / "own_state"))
    monkeypatch.setenv("LITHOPS_WORKER_CONFIG", "{}")
    folder = tmp_path / "test"
    folder.mkdir()

    isolate_from_user_config(monkeypatch, folder)

    assert load_config(log=False) == {"lithops": {"backend": "localhost", "storage": "localhost"}}
    assert state_dir() == str(folder / "state")
    assert "LITHOPS_WORKER_CONFIG" not in os.environ
