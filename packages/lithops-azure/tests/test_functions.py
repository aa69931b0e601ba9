"""azure_functions end to end on local parts: azure-mgmt-web against the local Resource Manager (plan, app, One
Deploy of the package from Azurite, host keys), and the deployed package's own code run by a local Functions host,
with the queue trigger (Azurite) and the HTTPS trigger."""

from __future__ import annotations

from typing import Any

import pytest

import lithops
from conftest import functions_config
from lithops.backends.runtime import CLIENT_PYTHON
from lithops.errors import BackendError
from lithops.testing import ComputeContract


class TestFunctionsQueueTrigger(ComputeContract):
    skip_capabilities = {"cancel"}

    @pytest.fixture
    def config(self, arm: Any, azurite: Any, functions_platform: Any, shared_bucket: str) -> dict[str, Any]:
        return functions_config(arm, azurite, shared_bucket)


class TestFunctionsHttpsTrigger(ComputeContract):
    skip_capabilities = {"cancel"}

    @pytest.fixture
    def config(self, arm: Any, azurite: Any, functions_platform: Any, shared_bucket: str) -> dict[str, Any]:
        return functions_config(arm, azurite, shared_bucket, trigger="https")


def _double(x: int) -> int:
    return x * 2


@pytest.mark.parametrize("trigger", ["pub/sub", "https"])
def test_map_reduce_and_data_map(arm: Any, azurite: Any, functions_platform: Any, shared_bucket: str,
                                 trigger: str) -> None:
    config = functions_config(arm, azurite, shared_bucket, trigger=trigger)
    storage = lithops.Storage(config=config)
    for i in range(3):
        storage.put_object(shared_bucket, f"fndata/{i}.txt", b"a b\n" * (i + 1))

    def words(obj: Any) -> int:
        return len(obj.data_stream.read().split())

    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.map_reduce(_double, range(5), sum).get_result() == 20
        assert sorted(fexec.map(words, f"az://{shared_bucket}/fndata/").get_result()) == [2, 4, 6]


def test_other_python_refused(arm: Any, azurite: Any, functions_platform: Any, shared_bucket: str) -> None:
    """An app whose runtime is another Python is refused before anything is sent, with the fix."""
    config = functions_config(arm, azurite, shared_bucket, runtime="six")  # an app of its own
    with lithops.FunctionExecutor(config=config) as fexec:
        fexec.call_async(_double, 1).result()
    for resource in arm.resources.values():
        if resource["type"] == "Microsoft.Web/sites":
            resource["properties"]["functionAppConfig"]["runtime"]["version"] = "3.8"
    try:
        with lithops.FunctionExecutor(config=config) as fexec:
            with pytest.raises(BackendError, match=r"function app .* runs Python 3\.8.*Nothing was sent.*delete the "
                                                   r"app"):
                fexec.call_async(_double, 1)
    finally:
        for resource in arm.resources.values():
            if resource["type"] == "Microsoft.Web/sites":
                resource["properties"]["functionAppConfig"]["runtime"]["version"] = CLIENT_PYTHON


def test_deploy_error_carries_azures_message(arm: Any, azurite: Any, shared_bucket: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arm, "providers", {"Microsoft.App"})
    config = functions_config(arm, azurite, shared_bucket, runtime="unregistered")
    with lithops.FunctionExecutor(config=config) as fexec:
        with pytest.raises(BackendError, match=r"MissingSubscriptionRegistration.*az provider register --namespace "
                                               r"Microsoft\.Web"):
            fexec.call_async(_double, 1)


def test_https_app_down_fails_the_calls_at_once(arm: Any, azurite: Any, functions_platform: Any,
                                                shared_bucket: str) -> None:
    """An HTTPS invocation the app cannot take (its host is gone) fails its calls at once, naming the URL."""
    import time

    from lithops.errors import LithopsError
    from lithops_azure.functions.apps import FunctionApps

    config = functions_config(arm, azurite, shared_bucket, trigger="https", runtime="down")
    with lithops.FunctionExecutor(config=config) as fexec:
        assert fexec.call_async(_double, 2).result() == 4
        _, app = FunctionApps({**config["azure"], **config["azure_storage"], **config["azure_functions"],
                               "max_deliveries": 5, "runtime_timeout": 60}).names(2048)
        functions_platform._deleted("Microsoft.Web/sites", {"name": app})  # the app's host stops
        start = time.monotonic()
        with pytest.raises(LithopsError, match=r"HTTPS invocation of http://127\.0\.0\.1:\d+/api/lithops failed"):
            fexec.call_async(_double, 3).result()
        assert time.monotonic() - start < 30
