"""Azure Resource Manager clients (azure-mgmt-*) made from a config section, and waiting for long operations.

``azure.arm_endpoint`` may be ``http://`` only on loopback (a local stand-in of Resource Manager): bearer tokens are
never sent in clear text to another host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import BearerTokenCredentialPolicy

from lithops.errors import ConfigError
from lithops_azure.auth import arm_credential, azure_errors, subscription_of

T = TypeVar("T")
#: Seconds to wait for a long-running Resource Manager operation (creating an app takes a minute or two).
LRO_TIMEOUT = 900.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _LoopbackBearerPolicy(BearerTokenCredentialPolicy):
    """Bearer tokens over plain HTTP, allowed for loopback endpoints only."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context["enforce_https"] = False
        super().on_request(request)


def arm_client(cls: type[T], section: Mapping[str, Any], backend: str) -> T:
    """A management client of class ``cls`` for the section's subscription, credential and endpoint."""
    endpoint = str(section.get("arm_endpoint") or "https://management.azure.com").rstrip("/")
    parts = urlsplit(endpoint)
    credential = arm_credential(section)
    kwargs: dict[str, Any] = {"base_url": endpoint}
    if parts.scheme == "http":
        if parts.hostname not in _LOOPBACK:
            raise ConfigError(f"azure.arm_endpoint is {endpoint}: Resource Manager must be reached over https (plain "
                              f"http is accepted on loopback only, for local stand-ins)")
        kwargs["authentication_policy"] = _LoopbackBearerPolicy(credential, f"{endpoint}/.default")
    return cls(credential, subscription_of(section, backend), **kwargs)  # type: ignore[call-arg]


def wait(poller: Any, what: str, namespace: str, timeout: float = LRO_TIMEOUT) -> Any:
    """The result of a long-running operation (ARM polling), raising its error as a Lithops error."""
    with azure_errors(what, namespace):
        poller.wait(timeout)
        if not poller.done():
            raise TimeoutError(f"{what} did not finish within {timeout:.0f} s; see the resource group's activity log")
        return poller.result()
