"""Fixtures of the lithops-azure tests: one Azurite (Blob and Queue) per session, and no developer config."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lithops.testing import isolate_from_user_config
from lithops_azure.testing.azurite import Azurite, AzuriteUnavailable


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Keep a developer's own Lithops config, job log and Azure variables out of the tests."""
    isolate_from_user_config(monkeypatch, tmp_path)
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_SUBSCRIPTION_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite for the whole session."""
    yield from running_azurite()


def running_azurite(host: str = "127.0.0.1") -> Iterator[Azurite]:
    """An Azurite listening on ``host`` while the generator runs (a fixture's body); skipped where Azurite is
    missing, except on CI, which installs it (.ci/run): its absence there is a failure."""
    try:
        server = Azurite(host=host).start()
    except AzuriteUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Azurite is not available: {exc}")
        pytest.skip(f"Azurite is not available: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def storage_section(azurite: Azurite) -> dict[str, Any]:
    """An ``azure_storage`` section on Azurite with a fresh container name (not yet created)."""
    return {"connection_string": azurite.connection_string, "storage_bucket": f"lithops-test-{uuid.uuid4().hex[:8]}"}


@pytest.fixture(scope="session")
def arm() -> Iterator[Any]:
    """The local Resource Manager, with resource group 'lithops-rg' and Container Apps environment 'lithops-env'."""
    from lithops_azure.testing.arm_fake import FakeArm

    fake = FakeArm(polls=1).start()
    fake.add_environment("lithops-rg", "lithops-env")
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def container_apps(arm: Any, tmp_path_factory: Any) -> Iterator[Any]:
    """Replicas of the provisioned Container Apps, as local processes (logs in a temporary folder)."""
    from lithops_azure.testing.container_apps import LocalContainerApps

    platform = LocalContainerApps(arm, replicas=3, log_dir=str(tmp_path_factory.mktemp("replicas")))
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="session")
def shared_bucket(azurite: Azurite) -> str:
    """A container for the compute tests' jobs."""
    from lithops_azure.blob.storage import AzureBlobStorage

    bucket = f"lithops-jobs-{uuid.uuid4().hex[:8]}"
    AzureBlobStorage({"connection_string": azurite.connection_string}).create_bucket(bucket)
    return bucket


def containers_config(arm: Any, azurite: Azurite, bucket: str, **section: Any) -> dict[str, Any]:
    """A full config running azure_containers on the local Resource Manager, Azurite and local replicas."""
    return {
        "lithops": {"backend": "azure_containers", "storage": "azure_storage", "monitoring_interval": 0.1},
        "azure": {"subscription_id": arm.subscription, "resource_group": "lithops-rg", "region": "westeurope",
                  "arm_endpoint": arm.url, "access_token": arm.token},
        "azure_storage": {"connection_string": azurite.connection_string, "storage_bucket": bucket},
        "azure_containers": {"environment": "lithops-env", "runtime": "lithops-test:1", "max_workers": 8,
                             "queue_visibility": 3, **section},
    }


@pytest.fixture(scope="session")
def functions_platform(arm: Any, tmp_path_factory: Any) -> Iterator[Any]:
    """Function app hosts for the apps deployed to the local Resource Manager (logs in a temporary folder)."""
    from lithops_azure.testing.functions_host import LocalFunctions

    platform = LocalFunctions(arm, log_dir=str(tmp_path_factory.mktemp("functions")))
    try:
        yield platform
    finally:
        platform.stop()


def functions_config(arm: Any, azurite: Azurite, bucket: str, **section: Any) -> dict[str, Any]:
    """A full config running azure_functions on the local Resource Manager, Azurite and local Functions hosts."""
    config = containers_config(arm, azurite, bucket)
    config["lithops"]["backend"] = "azure_functions"
    config["azure_functions"] = {"invoke_endpoint": "http://{host}", "runtime_timeout": 60, "max_workers": 8,
                                 **section}
    return config
