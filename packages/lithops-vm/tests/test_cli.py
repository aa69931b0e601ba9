"""The lithops command with the vm backend: worker list, attach, clean --all, on namespace SSH hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import yaml

import lithops
from lithops_vm.testing.netns import process_alive, vm_config


def lithops_cli(config_file, *args, timeout=60):
    env = {**os.environ, "LITHOPS_CONFIG_FILE": str(config_file)}
    return subprocess.run([sys.executable, "-c", "from lithops.cli.main import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def double(x):
    return x * 2


def test_worker_list_attach_and_clean_all(network, shared_root, tmp_path, monkeypatch):
    state = tmp_path / "state"  # the job list, and the known_hosts file of lithops attach
    state.mkdir(mode=0o700)
    monkeypatch.setenv("LITHOPS_STATE_DIR", str(state))
    config = vm_config(network, shared_root)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    first, second = network.hosts[:2]
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map(double, range(4)).get_result() == [0, 2, 4, 6]
        storage = fexec.storage
        beats = {h.address: json.loads(storage.get_object(
            storage.bucket, f"lithops.standalone/lithops-workers/{h.address}/agent.json")) for h in (first, second)}

    jobs = lithops_cli(config_file, "job", "list")
    assert jobs.returncode == 0, jobs.stderr
    assert any(line.startswith(f"{fexec.executor_id}-M000") and " vm " in line and " done " in line
               for line in jobs.stdout.splitlines()), jobs.stdout

    listed = lithops_cli(config_file, "worker", "list")
    assert listed.returncode == 0, listed.stderr
    for host in (first, second):
        line = next(x for x in listed.stdout.splitlines() if host.address in x)
        assert f"pid {beats[host.address]['pid']}" in line and "root@" in line
    assert "2 VM(s) of backend vm" in listed.stdout

    master = lithops_cli(config_file, "attach", "--command", "ip -o -4 addr show eth0")
    assert master.returncode == 0, master.stderr
    assert first.address in master.stdout
    named = lithops_cli(config_file, "attach", second.address, "--command", "ip -o -4 addr show eth0")
    assert second.address in named.stdout
    unknown = lithops_cli(config_file, "attach", "nosuchvm", "--command", "true")
    assert unknown.returncode == 1 and "no VM called 'nosuchvm'; there are: root@" in unknown.stderr

    cleaned = lithops_cli(config_file, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "Gave back 2 VM(s) of backend vm, which Lithops did not make" in cleaned.stdout
    time.sleep(0.5)
    for host in (first, second):
        assert not process_alive(beats[host.address]["pid"])
        assert not os.path.exists(shared_root / "install" / "agents" / host.address)
    relisted = lithops_cli(config_file, "worker", "list")
    assert all("pid " not in line for line in relisted.stdout.splitlines() if first.address in line)
