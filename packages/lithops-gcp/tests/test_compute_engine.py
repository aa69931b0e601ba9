"""gcp_compute_engine end to end: the control plane is a strict local Compute Engine API (fake_compute.py) reached
through google-cloud-compute's REST transport, and the instances it "creates" are network-namespace hosts that run
the instance's startup-script at every boot, as Compute Engine does: the kernel's real bootstrap asks the metadata
server for the instance name and a token of the VM's service account, downloads the code from the storage emulator
with it and starts the agent, which works through the emulator (listening on the hosts' bridge address).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import lithops
from conftest import PROJECT, REGION, make_bucket
from lithops.errors import BackendError, ConfigError
from lithops.testing import ComputeContract
from lithops_gcp.auth import GCPAccessDeniedError, GCPConnectionError, GCPCredentialsError
from lithops_gcp.gcp_compute_engine.provider import ComputeEngineVMs
from lithops_gcp.testing.emulators import free_port
from lithops_gcp.testing.fake_compute import FakeComputeEngine, StorageRelay

vm_fixtures = pytest.importorskip("lithops_vm.testing.fixtures")

ZONE = f"{REGION}-b"


def _cube(x: int) -> int:
    return x ** 3


network = vm_fixtures.namespace_hosts("Compute Engine VMs")


@pytest.fixture(scope="module")
def relay(network: Any, storage_emulator: Any) -> Iterator[StorageRelay]:
    """The storage emulator on the bridge address, in STORAGE_EMULATOR_HOST for this module."""
    layer = StorageRelay(storage_emulator.host, network.gateway)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("STORAGE_EMULATOR_HOST", layer.url)
            yield layer
    finally:
        layer.close()


@pytest.fixture(scope="module")
def bridge_storage(relay: StorageRelay) -> str:
    """The URL of the storage emulator that the VMs reach."""
    return relay.url


def _fake(network: Any, storage_url: str, **kwargs: Any) -> FakeComputeEngine:
    # the VMs' environment stands for what their service account gives them: access to the bucket
    return FakeComputeEngine(PROJECT, [ZONE, f"{REGION}-c"], network=network,
                             env={"STORAGE_EMULATOR_HOST": storage_url}, **kwargs)


@pytest.fixture
def compute(network: Any, bridge_storage: str) -> Iterator[FakeComputeEngine]:
    """A fresh fake Compute Engine API whose instances are played by the namespace hosts."""
    with _fake(network, bridge_storage) as api:
        yield api


def _config(api: FakeComputeEngine, bucket: str, install_dir: str, **section: Any) -> dict[str, Any]:
    """gcp_compute_engine through the fake; the VMs' runtime is this Python (it has google-cloud-storage, so
    nothing is installed from a package index), their install folder a fresh one.
    """
    return {
        "lithops": {"backend": "gcp_compute_engine", "storage": "gcp_storage", "monitoring_interval": 0.1},
        "gcp": {"project_name": PROJECT, "region": REGION},
        "gcp_compute_engine": {"api_endpoint": api.url, "exec_mode": "create", "max_workers": 2,
                               "worker_processes": 2, "runtime": sys.executable, "install_dir": install_dir,
                               "start_timeout": 60, "soft_dismantle_timeout": 120, **section},
        "gcp_storage": {"storage_bucket": bucket},
    }


@pytest.fixture
def config(compute: FakeComputeEngine, tmp_path: Any) -> dict[str, Any]:
    """create mode on two VMs in zone b of the region."""
    return _config(compute, make_bucket(f"lithops-gce-{uuid.uuid4().hex[:8]}"), str(tmp_path / "vm-install"))


def _provider(config: dict[str, Any], **keys: Any) -> ComputeEngineVMs:
    return ComputeEngineVMs({**config["gcp"], **config["gcp_compute_engine"], **keys}, "lithops-workers")


def _heartbeat(fexec: Any, name: str) -> dict[str, Any]:
    storage = fexec.storage
    return dict(json.loads(storage.get_object(storage.bucket, f"lithops.standalone/lithops-workers/{name}/agent.json")))


def test_create_mode_boots_the_agent_from_the_startup_script_and_deletes_the_vms(
        config: dict[str, Any], compute: FakeComputeEngine, relay: StorageRelay) -> None:
    assert compute.vms is not None
    relay.tokens.clear()
    config["gcp_storage"]["credentials_path"] = "/home/me/secret-key.json"  # never in the VMs' metadata
    config["gcp_compute_engine"].update(machine_type="e2-standard-4", labels={"team": "data"},
                                        service_account=f"lithops@{PROJECT}.iam.gserviceaccount.com")
    del config["gcp_compute_engine"]["soft_dismantle_timeout"]
    config["standalone"] = {"soft_dismantle_timeout": 77}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.mode == "standalone"
        assert fexec.map(_cube, range(8)).get_result() == [x ** 3 for x in range(8)]
        names = sorted(compute.vms.hosts)
        assert len(names) == 2 and len(compute.inserts) == 2
        for name in names:
            beat = _heartbeat(fexec, name)
            assert beat["worker_processes"] == 2 and beat["python_version"] == "{}.{}".format(*sys.version_info[:2])
            assert compute.vms.boots[name] == [0], compute.vms.log(name)
        insert = compute.inserts[0]
        assert insert["machineType"] == f"zones/{ZONE}/machineTypes/e2-standard-4"
        assert insert["labels"]["lithops_cluster"] == "lithops-workers" and insert["labels"]["team"] == "data"
        assert insert["labels"]["lithops_exec_mode"] == "create"
        assert insert["serviceAccounts"] == [{"email": f"lithops@{PROJECT}.iam.gserviceaccount.com",
                                              "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]
        [item] = insert["metadata"]["items"]
        assert item["key"] == "startup-script" and "computeMetadata/v1/instance/name" in item["value"]
        assert "secret-key" not in item["value"] and "/var/lib/cloud/scripts/per-boot" not in item["value"]
        with open(f"{config['gcp_compute_engine']['install_dir']}/agents/{names[0]}/config.json",
                  encoding="utf-8") as f:
            agent_config = json.load(f)  # written by the startup-script, with the name from the metadata server
        assert agent_config["vm_id"] == names[0] and agent_config["soft_dismantle_timeout"] == 77
        assert "credentials_path" not in agent_config["storage"]["config"]
        # the code was downloaded with a token of a VM's service account, from its metadata server
        assert relay.tokens and set(relay.tokens) <= {compute.tokens[name] for name in names}
    assert compute.instances == {}  # deleted when the executor closed


def test_reuse_mode_starts_the_stopped_vm_again(config: dict[str, Any], compute: FakeComputeEngine) -> None:
    """A VM stopped underneath (its agent killed, its last heartbeat left in the bucket) is started once stopped,
    never while stopping, and its startup-script starts the agent again at boot: the same VM, not a new one.
    """
    assert compute.vms is not None
    config["gcp_compute_engine"].update(exec_mode="reuse", max_workers=1)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 2).result(timeout=60) == 8
    [name] = compute.vms.hosts
    stop = requests.post(f"{compute.url}/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/{name}/stop",
                         timeout=10)
    assert stop.status_code == 200 and compute.instances[name]["status"] == "STOPPING"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 3).result(timeout=60) == 27
    assert list(compute.vms.hosts) == [name] and len(compute.inserts) == 1
    assert not [r for r in compute.refused if r.startswith("resourceNotReady")]
    assert len(compute.vms.boots[name]) == 2
    assert compute.instances[name]["status"] == "RUNNING"  # reuse mode keeps it


def test_an_idle_vm_powers_itself_off_and_the_next_executor_starts_it(config: dict[str, Any],
                                                                      compute: FakeComputeEngine) -> None:
    """reuse mode: after soft_dismantle_timeout idle seconds the agent powers the VM off (Compute Engine stops it);
    the next executor starts it again and its startup-script brings the agent back.
    """
    assert compute.vms is not None
    config["gcp_compute_engine"].update(exec_mode="reuse", max_workers=1, soft_dismantle_timeout=1)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 4).result(timeout=60) == 64
    [name] = compute.vms.hosts
    deadline = time.monotonic() + 30
    while "shutdown -h now" not in compute.vms.log(name):
        assert time.monotonic() < deadline, compute.vms.log(name)
        time.sleep(0.2)
    [vm] = _provider(config).list_vms()
    assert vm.state == "stopped"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.call_async(_cube, 5).result(timeout=60) == 125
    assert len(compute.vms.boots[name]) == 2 and len(compute.inserts) == 1


def test_a_vm_that_cannot_be_started_leaves_the_others_to_run_the_job(network: Any, bridge_storage: str,
                                                                      config: dict[str, Any]) -> None:
    """reuse mode: of two stopped VMs, the CPU quota lets only one start again. The job runs on that one
    (workers_policy: permissive), and the other's error is Compute Engine's.
    """
    with _fake(network, bridge_storage, cpu_quota=4) as api:
        assert api.vms is not None
        config["gcp_compute_engine"].update(api_endpoint=api.url, exec_mode="reuse", max_workers=2,
                                            machine_type="e2-standard-2")
        with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
            assert fexec.map(_cube, range(4)).get_result() == [0, 1, 8, 27]
        provider = _provider(config)
        cluster = provider.list_vms()
        provider.stop(cluster)
        ComputeEngineVMs({**config["gcp"], **config["gcp_compute_engine"]}, "another-cluster").create(1)
        with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
            assert fexec.map(_cube, range(4)).get_result() == [0, 1, 8, 27]
            assert len(fexec.compute.ready_vms(fexec.executor_id)) == 1
        assert any(r.startswith("QUOTA_EXCEEDED") for r in api.refused)
        assert sorted(len(api.vms.boots[vm.name]) for vm in cluster) == [1, 2]


def test_refusals_carry_compute_engines_message(config: dict[str, Any], compute: FakeComputeEngine) -> None:
    config["gcp_compute_engine"]["machine_type"] = "e2-huge-99"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="Machine type with name 'e2-huge-99' does not exist in zone"):
            fexec.call_async(_cube, 1)
    with pytest.raises(BackendError, match="The referenced image resource cannot be found"):
        _provider(config, machine_type="e2-micro",
                  source_image="projects/debian-cloud/global/images/family/debian-99").create(1)
    with pytest.raises(BackendError, match="Unknown zone"):
        _provider(config, machine_type="e2-micro", zone=f"{REGION}-z").create(1)
    assert compute.instances == {}


def test_quota_and_capacity_errors_are_passed_on(network: Any, bridge_storage: str, config: dict[str, Any]) -> None:
    with _fake(network, bridge_storage, cpu_quota=6) as api:
        config["gcp_compute_engine"]["api_endpoint"] = api.url
        provider = _provider(config, machine_type="e2-standard-4")
        # two asked for, one fits the quota: that one is made, and the other's error is only logged
        assert len(provider.create(2)) == 1
        with pytest.raises(BackendError, match=r"QUOTA_EXCEEDED: Quota 'CPUS' exceeded.  Limit: 6.0 in region "
                                               r"us-east1. \(ask for more quota"):
            provider.create(1)
        api.exhausted_zones.add(f"{REGION}-c")
        with pytest.raises(BackendError, match=r"ZONE_RESOURCE_POOL_EXHAUSTED: The zone .* does not have enough "
                                               r"resources .*try another zone"):
            _provider(config, machine_type="e2-micro", zone=f"{REGION}-c").create(1)


def test_a_vm_that_never_becomes_ready_fails_within_start_timeout(config: dict[str, Any],
                                                                  compute: FakeComputeEngine) -> None:
    compute.stuck = True
    config["gcp_compute_engine"].update(max_workers=1, start_timeout=3)
    started = time.monotonic()
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=r"is still pending after 3 s \(start_timeout\)"):
            fexec.call_async(_cube, 1)
    assert time.monotonic() - started < 30
    assert compute.instances == {}  # create mode: deleted all the same


def test_credentials_disabled_api_and_a_down_endpoint_are_clear_errors(config: dict[str, Any],
                                                                       compute: FakeComputeEngine) -> None:
    with pytest.raises(GCPCredentialsError, match="no Google Cloud credentials found"):
        _provider(config, api_endpoint=None)
    with pytest.raises(GCPCredentialsError, match="which is not a file"):
        _provider(config, credentials_path="/no/such/key.json")
    compute.api_enabled = False
    with pytest.raises(GCPAccessDeniedError, match=r"compute\.googleapis\.com/overview"):
        _provider(config).list_vms()
    compute.api_enabled = True
    started = time.monotonic()
    with pytest.raises(GCPConnectionError, match="cannot reach"):
        _provider(config, api_endpoint=f"http://127.0.0.1:{free_port()}").list_vms()
    assert time.monotonic() - started < 30


def test_created_vms_need_cloud_storage_for_the_code(config: dict[str, Any], tmp_path: Any,
                                                     compute: FakeComputeEngine) -> None:
    config["lithops"]["storage"] = "localhost"
    config["localhost"] = {"storage_root": str(tmp_path / "storage")}
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match="use storage gcp_storage"):
            fexec.call_async(_cube, 1)
    assert compute.inserts == []  # refused before any VM was made


def test_spot_vms(config: dict[str, Any], compute: FakeComputeEngine) -> None:
    provider = _provider(config)
    [vm] = provider.create(1, spot=True)
    scheduling = compute.inserts[-1]["scheduling"]
    assert scheduling["provisioningModel"] == "SPOT" and scheduling["instanceTerminationAction"] == "DELETE"
    assert [v.spot for v in provider.list_vms() if v.id == vm.id] == [True]
    provider.delete([vm])


def test_consume_mode_installs_the_agent_over_ssh(config: dict[str, Any], compute: FakeComputeEngine,
                                                  network: Any, bridge_storage: str, tmp_path: Any) -> None:
    """The user's own VM (made without Lithops's startup-script) gets the agent over SSH, then runs calls."""
    [vm] = _provider(config).create(1)  # no user data: the VM runs nothing of Lithops's
    runtime = tmp_path / "python"  # the agent's storage access on that VM (its service account, in the cloud)
    runtime.write_text(f'#!/bin/sh\nSTORAGE_EMULATOR_HOST={bridge_storage} exec {sys.executable} "$@"\n')
    runtime.chmod(0o755)
    config["gcp_compute_engine"].update(exec_mode="consume", instance_name=vm.name, ssh_username="root",
                                        ssh_key_filename=network.client_key, runtime=str(runtime))
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        assert fexec.map(_cube, [1, 2, 3]).get_result() == [1, 8, 27]
        assert _heartbeat(fexec, vm.name)["worker_processes"] == 2
    assert compute.instances[vm.name]["status"] == "RUNNING"  # the user's VM is kept
    config["gcp_compute_engine"]["instance_name"] = "no-such-vm"
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(BackendError, match=f"VM no-such-vm does not exist in zone {ZONE}"):
            fexec.call_async(_cube, 1)


def test_worker_list_attach_and_clean_all(config: dict[str, Any], compute: FakeComputeEngine, network: Any,
                                         tmp_path: Any) -> None:
    """``lithops attach`` logs in to a VM Lithops made, with ssh_key_filename; ``lithops clean --all`` deletes the
    cluster's VMs (e.g. create-mode VMs a crashed client left); another cluster's stay.
    """
    config["gcp_compute_engine"].update(ssh_username="root", ssh_key_filename=network.client_key)
    [vm] = _provider(config).create(1)
    [other] = ComputeEngineVMs({**config["gcp"], **config["gcp_compute_engine"]}, "other-cluster").create(1)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps(config))  # YAML reads JSON
    env = {**os.environ, "LITHOPS_CONFIG_FILE": str(config_file)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from lithops.cli.main import main; main()", *args],
                              capture_output=True, text=True, timeout=120, env=env)

    listed = cli("worker", "list")
    assert listed.returncode == 0 and vm.name in listed.stdout and other.name not in listed.stdout, listed.stderr
    # the key of ssh_key_filename is in the VMs' ssh-keys metadata, for ssh_username: lithops attach logs in
    assert {"key": "ssh-keys", "value": f"root:{open(network.client_key + '.pub').read().strip()}"} in \
        compute.inserts[0]["metadata"]["items"]
    attached = cli("attach", vm.name, "--command", "ip -o -4 addr show eth0")
    assert attached.returncode == 0 and compute.vms is not None, attached.stderr
    assert compute.vms.hosts[vm.name].address in attached.stdout
    cleaned = cli("clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "Removed 1 VM(s) of backend gcp_compute_engine" in cleaned.stdout
    assert list(compute.instances) == [other.name]


def test_config_keys_are_checked(config: dict[str, Any]) -> None:
    config["gcp_compute_engine"]["zone"] = "us-east1"
    with pytest.raises(ConfigError, match=r"zone.*us-east1-b"):
        lithops.FunctionExecutor(config=config, log_level=None)


@pytest.fixture(scope="class")
def contract_compute(network: Any, bridge_storage: str) -> Iterator[FakeComputeEngine]:
    """One fake for the whole contract class: its VMs stay up between the tests."""
    with _fake(network, bridge_storage) as api:
        yield api


class TestComputeEngineCompute(ComputeContract):
    """The compute contract through gcp_compute_engine: a reuse-mode cluster of two VMs (namespace hosts) booted
    from their startup-script by the first executor and kept warm for the others.
    """

    call_timeout = 150.0

    @pytest.fixture
    def config(self, contract_compute: FakeComputeEngine, tmp_path_factory: Any) -> dict[str, Any]:
        bucket = "lithops-gce-contract"
        if not contract_compute.inserts:  # the first test of the class
            make_bucket(bucket)
        return _config(contract_compute, bucket, str(tmp_path_factory.getbasetemp() / "gce-contract-install"),
                       exec_mode="reuse", soft_dismantle_timeout=600)
