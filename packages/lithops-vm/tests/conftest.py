"""Fixtures of the vm backend's tests: real SSH hosts in network namespaces, localhost storage they share."""

from __future__ import annotations

import os
import stat

import pytest

from lithops_vm.testing.netns import HostNetwork, PasswordUser, unavailable_reason


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch, tmp_path):
    """Keep a developer's own Lithops config out of the tests."""
    empty = tmp_path / "empty_config.yaml"
    empty.write_text("")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(empty))


@pytest.fixture(scope="session")
def network(tmp_path_factory):
    """Two SSH hosts (more with ``network.add_host()``), torn down at the end of the session."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    net = HostNetwork(str(tmp_path_factory.mktemp("hosts")))
    try:
        net.add_host()
        net.add_host()
        yield net
    finally:
        net.close()


@pytest.fixture(scope="session")
def password_user(network):
    """A login with a password (an alias of root)."""
    user = PasswordUser()
    yield user
    user.close()


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory):
    """The storage root and install folder, on the file system the hosts share with this machine."""
    root = tmp_path_factory.mktemp("vmshared")
    os.chmod(root, stat.S_IRWXU)
    return root
