"""What a provider backend declares about its VMs' agent, applied by the kernel's ``StandaloneBackend``: the SDKs the
agent needs on a stock image's ``python3``, and the storage keys that never go into user data."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from lithops.errors import BackendError
from lithops.plugins.manager import PluginRegistry
from lithops.standalone.backend import StandaloneBackend, client_python, default_image
from lithops.standalone.provider import VM, VMProvider, named_vm
from lithops.storage.job_storage import JobStorage


class _NoVMs(VMProvider):
    """A provider these tests never ask for a VM."""

    def create(self, count: int, *, spot: bool = False, user_data: str | None = None,
               tags: Any = None) -> list[VM]:
        raise AssertionError("not used")

    start = stop = delete = list_vms = wait_ready = create  # type: ignore[assignment]


class _SDKBackend(StandaloneBackend):
    provider_class = _NoVMs
    section = "sdk_vms"
    agent_requirements: ClassVar[tuple[str, ...]] = ("cloud-sdk>=1", "other-sdk")
    user_data_credential_keys: ClassVar[tuple[str, ...]] = ("secret", "token")


def _backend(cls: type[StandaloneBackend] = _SDKBackend, **section: Any) -> StandaloneBackend:
    storage = JobStorage({"backend": "template_storage", "bucket": "lithops-template",
                          "template_storage": {"storage_bucket": "lithops-template", "secret": "s", "token": "t",
                                               "region": "r"}},
                         "lithops_plugin_template.storage:MemoryStorage")
    return cls(section, {}, storage=storage)


def test_the_images_python3_gets_pip_and_the_agents_sdks_first() -> None:
    config = _backend(extra_apt_packages=["git", "python3-pip"], extra_python_packages=["numpy"]).config
    assert config["extra_apt_packages"] == ["python3-pip", "git"]
    assert config["extra_python_packages"] == ["cloud-sdk>=1", "other-sdk", "numpy"]


def test_another_runtime_or_a_backend_without_requirements_is_left_alone() -> None:
    config = _backend(runtime="/opt/venv/bin/python", extra_python_packages=["numpy"]).config
    assert config["extra_apt_packages"] == [] and config["extra_python_packages"] == ["numpy"]

    class Plain(_SDKBackend):
        agent_requirements: ClassVar[tuple[str, ...]] = ()

    assert _backend(Plain).config["extra_python_packages"] == []


@pytest.mark.parametrize(("mode", "kept"), [("create", False), ("reuse", False), ("consume", True)])
def test_credential_keys_stay_out_of_the_config_of_vms_made_from_user_data(
        inprocess: PluginRegistry, mode: str, kept: bool) -> None:
    backend = _backend(exec_mode=mode)
    keys = set(backend.agent_config(VM(id="vm-1", name="vm-1"))["storage"]["config"])
    assert ("secret" in keys, "token" in keys, "region" in keys) == (kept, kept, True)
    assert backend.job_storage()[0].storage_config["template_storage"]["secret"] == "s"  # the client's are kept


def test_poll_ready_waits_for_a_running_vm_with_an_address_where_ssh_needs_one() -> None:
    provider = _NoVMs({}, "c")
    provider.installs_over_ssh = True
    seen = iter([VM("i-1", "vm-1", state="pending"), VM("i-1", "vm-1", state="running"),
                 VM("i-1", "vm-1", address="10.0.0.1", state="running")])
    assert provider.poll_ready("vm-1", 10, lambda: next(seen), poll_sec=0.01).address == "10.0.0.1"


def test_poll_ready_gives_up_at_the_timeout_naming_the_vm_its_state_and_the_hint() -> None:
    provider = _NoVMs({}, "c")
    with pytest.raises(BackendError, match=r"VM vm-1 is still pending after 0\.1 s \(start_timeout\); look there\."):
        provider.poll_ready("vm-1", 0.1, lambda: VM("i-1", "vm-1", state="pending"), poll_sec=0.01,
                            hint="; look there")


def test_the_consumed_vm_must_be_named_in_the_section() -> None:
    assert named_vm({"instance_id": 7}, "foo_vm", "instance_id", "id") == "7"
    with pytest.raises(BackendError, match=r"^foo_vm.exec_mode is 'consume' but foo_vm.instance_name is not set: "
                                           r"give the name of the VM to run on, or use exec_mode create or reuse\.$"):
        named_vm({}, "foo_vm", "instance_name", "name")


def test_settled_states_waits_for_stopping_vms_within_start_timeout() -> None:
    seen = iter([{"a": "stopping", "b": "stopped"}, {"a": "stopped", "b": "stopped"}])
    assert _NoVMs({}, "c").settled_states(lambda: next(seen), poll_sec=0.01) == {"a": "stopped", "b": "stopped"}
    with pytest.raises(BackendError, match=r"VMs a were still stopping after 0\.1 s \(start_timeout\); try again"):
        _NoVMs({"start_timeout": 0.1}, "c").settled_states(lambda: {"a": "stopping"}, poll_sec=0.01)


def test_the_default_image_is_the_one_for_the_clients_python() -> None:
    assert default_image({client_python(): "img"}, "Foo", "foo.image") == "img"
    wanted = client_python()
    with pytest.raises(BackendError, match=rf"^no default Foo image has Python {wanted}, which this client runs: set "
                                           rf"foo.image to an image with Python {wanted} \(or so\)\.$"):
        default_image({}, "Foo", "foo.image", also=" (or so)")
