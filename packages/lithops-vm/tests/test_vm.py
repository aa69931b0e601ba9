"""The vm backend on real SSH hosts (network namespaces): bootstrap, runs, faults and bad input."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

import lithops
from lithops.errors import BackendError, WorkerDiedError
from lithops_vm.testing.netns import process_alive, vm_config


def double(x):
    return x * 2


def total(results):
    return sum(results)


def count_words(obj):
    return len(obj.data_stream.read().split())


def nap(seconds):
    time.sleep(seconds)
    return seconds


def heartbeat(fexec, host):
    storage = fexec.storage
    key = f"lithops.standalone/lithops-workers/{host.address}/agent.json"
    return json.loads(storage.get_object(storage.bucket, key))


def test_key_login_map_map_reduce_and_data_map(network, shared_root):
    with lithops.FunctionExecutor(config=vm_config(network, shared_root)) as fexec:
        assert fexec.map(double, range(20)).get_result() == [x * 2 for x in range(20)]
        assert fexec.map_reduce(double, range(10), total).get_result() == 90
        storage = fexec.storage
        for n in range(4):
            storage.put_object(storage.bucket, f"vmtest/words/{n}.txt", " ".join(["w"] * (n + 1)))
        counts = fexec.map(count_words, f"localhost://{storage.bucket}/vmtest/words/").get_result()
        assert sorted(counts) == [1, 2, 3, 4]
        ran_on = {f.stats.get("worker_id", "") for f in fexec.futures}
        assert ran_on  # statuses came from the hosts' workers
        for host in network.hosts[:2]:
            assert heartbeat(fexec, host)["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_password_login(network, shared_root, password_user):
    config = vm_config(network, shared_root, hosts=network.hosts[:1], ssh_username=password_user.name,
                       ssh_password=password_user.password, ssh_key_filename=None)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map(double, [1, 2, 3]).get_result() == [2, 4, 6]


def test_killed_worker_process_fails_its_call_in_seconds(network, shared_root):
    with lithops.FunctionExecutor(config=vm_config(network, shared_root)) as fexec:
        fexec.map(double, range(4)).get_result()  # agents up and warm
        futures = fexec.map(nap, [4.0] * 4)  # one call per worker process of the two hosts
        victim_host = network.hosts[0]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pids = [p for p in heartbeat(fexec, victim_host)["worker_pids"]]
            busy = heartbeat(fexec, victim_host)["busy"]
            if busy and pids:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # the calls are running
        start = time.monotonic()
        os.kill(pids[0], signal.SIGKILL)
        fexec.wait(futures, throw_except=False, timeout=30)
        elapsed = time.monotonic() - start
        failed = [f for f in futures if f.error]
        assert len(failed) == 1, [f.status() if not f.error else "error" for f in futures]
        with pytest.raises(WorkerDiedError, match=victim_host.address):
            failed[0].result()
        assert [f.result() for f in futures if not f.error] == [4.0] * 3
        assert elapsed < 15
        assert fexec.map(double, range(4)).get_result() == [0, 2, 4, 6]  # a new worker process took its place


def test_killed_agent_fails_its_calls_in_seconds_and_comes_back(network, shared_root):
    with lithops.FunctionExecutor(config=vm_config(network, shared_root)) as fexec:
        fexec.map(double, range(4)).get_result()
        futures = fexec.map(nap, [5.0] * 4)
        victim = network.hosts[1]
        deadline = time.monotonic() + 20
        while not heartbeat(fexec, victim)["busy"] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        start = time.monotonic()
        os.kill(heartbeat(fexec, victim)["pid"], signal.SIGKILL)
        fexec.wait(futures, throw_except=False, timeout=40)
        elapsed = time.monotonic() - start
        failed = [f for f in futures if f.error]
        kept = [f.result() for f in futures if not f.error]
        assert len(failed) == 2 and kept == [5.0, 5.0]
        with pytest.raises(WorkerDiedError, match=f"agent on root@{victim.address} stopped"):
            failed[0].result()
        assert elapsed < 20
        old_pid = heartbeat(fexec, victim)["pid"]
        assert fexec.map(double, range(8)).get_result() == [x * 2 for x in range(8)]
        assert heartbeat(fexec, victim)["pid"] != old_pid  # its agent was started again, and ran calls
        deadline = time.monotonic() + 10
        while not heartbeat(fexec, victim)["finished"]:  # listed by its next heartbeat
            assert time.monotonic() < deadline, heartbeat(fexec, victim)
            time.sleep(0.2)


def password_config(network, shared_root, password_user, host, **vm):
    """Log in with the password user, whose shell (sh) reads no rc file, so the host's PATH is the one given."""
    return vm_config(network, shared_root, hosts=[host], ssh_username=password_user.name,
                     ssh_password=password_user.password, ssh_key_filename=None, **vm)


def test_python_version_mismatch_is_refused_before_any_call(network, shared_root, tmp_path_factory, password_user):
    fakebin = tmp_path_factory.mktemp("fakebin")
    fake = fakebin / "python3"
    fake.write_text('#!/bin/sh\nif [ "$1" = "-c" ]; then echo 3.10; exit 0; fi\nexec /usr/bin/python3 "$@"\n')
    fake.chmod(0o755)
    host = network.add_host(path=f"{fakebin}:/usr/bin:/bin")
    with pytest.raises(BackendError) as err:
        with lithops.FunctionExecutor(config=password_config(network, shared_root, password_user, host)) as fexec:
            fexec.call_async(double, 1).result()
    message = str(err.value)
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert host.address in message and "Python 3.10" in message and f"Python {wanted}" in message
    assert f"python{wanted}" in message  # the fix


def test_host_without_python(network, shared_root, tmp_path_factory, password_user):
    empty = tmp_path_factory.mktemp("nopython")
    host = network.add_host(path=str(empty))
    with pytest.raises(BackendError, match=f"{host.address} has no working Python 'python3'(.|\\n)*install Python"):
        with lithops.FunctionExecutor(config=password_config(network, shared_root, password_user, host)) as fexec:
            fexec.call_async(double, 1).result()


def test_wrong_password_names_the_host(network, shared_root, password_user):
    host = network.hosts[0]
    config = vm_config(network, shared_root, hosts=[host], ssh_username=password_user.name,
                       ssh_password="not-the-password", ssh_key_filename=None)
    with pytest.raises(BackendError, match=f"SSH login to {password_user.name}@{host.address}:22 was refused"):
        with lithops.FunctionExecutor(config=config) as fexec:
            fexec.call_async(double, 1).result()


def test_unreachable_host_names_it(network, shared_root):
    address = f"198.18.{network.subnet}.250"
    config = vm_config(network, shared_root, hosts=[])
    config["vm"]["hosts"] = [{"ip_address": address}]
    start = time.monotonic()
    with pytest.raises(BackendError, match=f"cannot reach root@{address}:22 over SSH"):
        with lithops.FunctionExecutor(config=config) as fexec:
            fexec.call_async(double, 1).result()
    assert time.monotonic() - start < 30


def test_workers_policy(network, shared_root):
    hosts = [{"ip_address": network.hosts[0].address}, {"ip_address": f"198.18.{network.subnet}.251"}]
    config = vm_config(network, shared_root, workers_policy="permissive")
    config["vm"]["hosts"] = hosts
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map(double, range(6)).get_result() == [0, 2, 4, 6, 8, 10]
    config["vm"]["workers_policy"] = "strict"
    with pytest.raises(BackendError, match=r"1 of 2 VMs could not be used \(workers_policy: strict\)"):
        with lithops.FunctionExecutor(config=config) as fexec:
            fexec.call_async(double, 1).result()


def test_auto_worker_processes_and_idle_shutdown(network, shared_root):
    host = network.hosts[0]
    config = vm_config(network, shared_root, hosts=[host], worker_processes="AUTO", auto_dismantle=True,
                       soft_dismantle_timeout=2)
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map(double, range(3)).get_result() == [0, 2, 4]
        beat = heartbeat(fexec, host)
        assert beat["worker_processes"] == os.cpu_count()  # the hosts share this machine's CPUs
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                heartbeat(fexec, host)
            except Exception:
                break  # the idle agent removed its heartbeat on the way out
            time.sleep(0.2)
        else:
            pytest.fail("the agent did not stop after soft_dismantle_timeout")
        time.sleep(0.5)
        assert not process_alive(beat["pid"])
    with lithops.FunctionExecutor(config=config) as fexec:  # a new executor starts it again
        assert fexec.call_async(double, 4).result() == 8


def test_standalone_section_applies(network, shared_root):
    config = vm_config(network, shared_root, hosts=network.hosts[:1])
    del config["vm"]["worker_processes"]
    config["standalone"] = {"worker_processes": 3}
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.config["vm"]["worker_processes"] == 3
        assert fexec.map(double, range(3)).get_result() == [0, 2, 4]
        assert heartbeat(fexec, network.hosts[0])["worker_processes"] == 3


def test_bootstrap_script_as_user_data_then_warm_without_ssh(network, shared_root, tmp_path):
    """What cloud-init does with a VM's user data: run the script at boot, the code downloaded from a URL. The
    executor then finds the agent up with its own config and never logs in (the host's sshd is gone).
    """
    import subprocess

    from lithops.config import default_config
    from lithops.storage.job_storage import JobStorage
    from lithops_vm.backend import VMBackend

    host = network.add_host()
    config = default_config(vm_config(network, shared_root, hosts=[host]))
    backend = VMBackend(config["vm"], config, storage=JobStorage.from_config(config))
    [vm] = backend.provider.named()
    code = tmp_path / "code.zip"
    code.write_bytes(backend.bundle()[0])
    script = backend.user_data(vm, code_url=code.as_uri())
    booted = subprocess.run(["ip", "netns", "exec", host.netns, "sh", "-s"], input=script, text=True,
                            capture_output=True, timeout=60)
    assert booted.returncode == 0, booted.stderr
    assert "LITHOPS-AGENT-STARTED" in booted.stdout
    os.kill(host.sshd_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while backend.heartbeat(vm) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    backend.close()
    with lithops.FunctionExecutor(config=vm_config(network, shared_root, hosts=[host])) as fexec:
        assert fexec.map(double, range(4)).get_result() == [0, 2, 4, 6]


def _tiny_wheel(folder):
    """A wheel of module ``lithops_vm_extra`` (``ANSWER = 42``), made by hand: no build tool, no index."""
    import base64
    import hashlib
    import zipfile

    files = {"lithops_vm_extra.py": b"ANSWER = 42\n",
             "lithops_vm_extra-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: lithops-vm-extra\n"
                                                         b"Version: 1.0\n",
             "lithops_vm_extra-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                                                      b"Tag: py3-none-any\n"}
    record = "".join(f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for name, data in files.items())
    path = folder / "lithops_vm_extra-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("lithops_vm_extra-1.0.dist-info/RECORD", record + "lithops_vm_extra-1.0.dist-info/RECORD,,\n")
    return path


def uses_extra(x):
    import lithops_vm_extra

    return lithops_vm_extra.ANSWER + x


def test_extra_python_packages(network, shared_root, tmp_path):
    host = network.hosts[0]
    wheel = _tiny_wheel(tmp_path)
    config = vm_config(network, shared_root, hosts=[host], extra_python_packages=[str(wheel)])
    with lithops.FunctionExecutor(config=config) as fexec:
        try:
            assert fexec.call_async(uses_extra, 0).result() == 42
        except BackendError as exc:
            if "No module named pip" in str(exc):
                pytest.skip(f"the host's python3 has no pip: {exc}")
            raise
    config["vm"]["extra_python_packages"] = [str(tmp_path / "missing.whl")]
    with pytest.raises(BackendError, match=f"root@{host.address}: installing extra_apt_packages/"
                                           f"extra_python_packages failed"):
        with lithops.FunctionExecutor(config=config) as fexec:
            fexec.call_async(double, 1).result()


def test_container_image_runtime(network, shared_root, tmp_path_factory, password_user):
    """runtime: an image. The host's docker (a stand-in here, tests/fake_docker.sh, that runs the image's python3
    as a container sharing the host's network and folders would) checks the image's Python and runs the agent.
    """
    import shutil

    fakebin = tmp_path_factory.mktemp("dockerbin")
    shutil.copy(os.path.join(os.path.dirname(__file__), "fake_docker.sh"), fakebin / "docker")
    (fakebin / "docker").chmod(0o755)
    host = network.add_host(path=f"{fakebin}:/usr/bin:/bin")
    config = password_config(network, shared_root, password_user, host, runtime="python:3.11-slim")
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map(double, range(4)).get_result() == [0, 2, 4, 6]
    assert "python:3.11-slim" in (fakebin / "images").read_text()
    assert (fakebin / f"lithops-agent-{host.address}.pid").exists()


def test_container_runtime_without_docker(network, shared_root, password_user):
    host = network.add_host(path="/usr/bin:/bin")
    config = password_config(network, shared_root, password_user, host, runtime="python:3.11-slim")
    with pytest.raises(BackendError, match=f"{host.address} has no Python 'python:3.11-slim' \\(no docker"):
        with lithops.FunctionExecutor(config=config) as fexec:
            fexec.call_async(double, 1).result()
