"""The cloud VM stand-ins of lithops_vm.testing.cloud_vms: a VM's guest powering itself off is seen, once per boot."""

from __future__ import annotations

import threading
import time

from lithops_vm.testing.cloud_vms import CloudVMs, MetadataRoute


def _booted(vms: CloudVMs, vm_id: str, times: int) -> None:
    deadline = time.monotonic() + 30
    while len(vms.boots.get(vm_id, [])) < times:
        assert time.monotonic() < deadline, vms.log(vm_id)
        time.sleep(0.05)


def test_a_guest_power_off_is_seen_until_the_vm_boots_again(network, tmp_path):
    marker = tmp_path / "first-boot-done"
    # powers off at its first boot only, as an idle agent does once
    script = f'mkdir "{marker}" 2>/dev/null || exit 0\nshutdown -h now\n'
    vms = CloudVMs(network, lambda vm_id: [MetadataRoute("/id", vm_id)], hosts=network.hosts[-1:])
    try:
        assert vms.assign("vm-1", script) is not None
        _booted(vms, "vm-1", 1)
        assert vms.powered_off("vm-1") and "shutdown -h now" in vms.log("vm-1")
        vms.stop("vm-1")
        vms.boot_later("vm-1")
        assert not vms.powered_off("vm-1")  # a new boot: the earlier power-off is past
        _booted(vms, "vm-1", 2)
        assert not vms.powered_off("vm-1")
        vms.delete("vm-1")
        assert not vms.powered_off("vm-1")
    finally:
        vms.close()


def test_a_vm_stopped_while_its_metadata_service_starts_ends_its_boot_quietly(network, tmp_path, monkeypatch):
    errors: list[BaseException | None] = []
    monkeypatch.setattr("threading.excepthook", lambda args: errors.append(args.exc_value))
    host = network.hosts[-1]

    def stop_once_the_service_runs() -> None:  # the VM is stopped after its metadata service was launched
        deadline = time.monotonic() + 10
        while not [pid for pid in host.pids() if pid != host.sshd_pid] and time.monotonic() < deadline:
            time.sleep(0.002)
        vms.stop("vm-1")

    def routes(vm_id: str) -> list[MetadataRoute]:
        threading.Thread(target=stop_once_the_service_runs, daemon=True).start()
        return [MetadataRoute("/id", vm_id)]

    vms = CloudVMs(network, routes, hosts=[host])
    try:
        assert vms.assign("vm-1", f'touch "{tmp_path / "ran"}"\n') is not None
    finally:
        vms.close()
    assert errors == []
    assert "vm-1" not in vms.boots and not (tmp_path / "ran").exists()  # a stopped VM runs no user data
