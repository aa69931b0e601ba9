"""A local stand-in of Azure Resource Manager at the HTTP level, for the management SDKs (their ``base_url`` pointed
at it, a static bearer token): Microsoft.App container apps and Microsoft.Web function apps.

It refuses what ARM refuses: no ``api-version`` query parameter, a missing or wrong bearer token, a resource group
that does not exist, a resource provider not registered in the subscription, malformed names, missing fields, CPU
and memory pairs Container Apps does not offer. Creations and deletions are long-running operations as ARM answers
them: ``201``/``202`` with ``Azure-AsyncOperation`` and ``Location`` headers, operation documents that say
``InProgress`` for a few polls and then ``Succeeded``, and the resource's ``provisioningState``.

Listeners (``on_put``/``on_delete``) let a test platform act on what is deployed (start replicas, a Functions host).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from lithops.testing.http_fake import ApiError, FakeRequest, FakeResponse, FakeService

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_APP_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")
_SITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]")
#: vCPUs -> memory Container Apps' consumption profile offers with them.
_CPU_MEMORY = {round(0.25 * n, 2): f"{0.5 * n:g}Gi" for n in range(1, 17)}


class FakeArm(FakeService):
    """Resource Manager for one subscription, with the resource groups, environments and registered providers a
    test gives it. Operations stay InProgress for ``polls`` polls; ``retry_after`` is the whole seconds they ask
    clients to wait between polls, as ARM's Retry-After header.
    """

    def __init__(self, subscription: str = "00000000-0000-0000-0000-000000000000", token: str = "test-token",
                 polls: int = 2, retry_after: str = "1") -> None:
        super().__init__()
        self.subscription, self.token, self.polls, self.retry_after = subscription, token, polls, retry_after
        self.resource_groups: set[str] = set()
        self.providers: set[str] = {"Microsoft.App", "Microsoft.Web"}
        self.environments: set[str] = set()  # lower-case resource ids
        self.resources: dict[str, dict[str, Any]] = {}  # lower-case resource id -> resource
        self.operations: dict[str, dict[str, Any]] = {}
        self.on_put: list[Callable[[str, dict[str, Any]], None]] = []
        self.on_delete: list[Callable[[str, dict[str, Any]], None]] = []
        self.extra: dict[str, Callable[[str, dict[str, Any], FakeRequest], FakeResponse]] = {}
        app = _RG + r"/providers/Microsoft\.App/containerApps/(?P<name>[^/]+)"
        site = _RG + r"/providers/Microsoft\.Web/sites/(?P<name>[^/]+)"
        plan = _RG + r"/providers/Microsoft\.Web/serverfarms/(?P<name>[^/]+)"
        self.route("PUT", app, self.put_container_app)
        self.route("GET", app, self.get_resource)
        self.route("DELETE", app, self.delete_resource)
        self.route("GET", _RG + r"/providers/Microsoft\.App/containerApps", self.list_resources)
        self.route("PUT", plan, self.put_plan)
        self.route("GET", plan, self.get_resource)
        self.route("DELETE", plan, self.delete_resource)
        self.route("PUT", site, self.put_site)
        self.route("GET", site, self.get_resource)
        self.route("DELETE", site, self.delete_resource)
        self.route("PUT", site + r"/extensions/onedeploy", self.site_extension)
        self.route("GET", site + r"/extensions/onedeploy", self.site_extension)
        self.route("POST", site + r"/host/default/listkeys", self.site_extension)
        self.route("GET", _SUB + r"/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/operationStatuses/(?P<op>[^/]+)",
                   self.operation_status)
        self.route("GET", _SUB + r"/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/operationResults/(?P<op>[^/]+)",
                   self.operation_result)
        self.route("POST", _SUB + r"/providers/(?P<ns>[^/]+)/register", self.register_provider)

    # -- ARM's shape -----------------------------------------------------------------------------------------
    def error_body(self, status: int, code: str, message: str) -> Any:
        """ARM's error JSON."""
        return {"error": {"code": code, "message": message}}

    def authorize(self, request: FakeRequest) -> None:
        """A bearer token and an api-version on every request, as ARM requires."""
        if request.header("authorization") != f"Bearer {self.token}":
            raise ApiError(401, "InvalidAuthenticationToken",
                           "The access token is invalid." if request.header("authorization") else
                           "The request does not have a valid authentication token.")
        if not request.query.get("api-version"):
            raise ApiError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        if request.params.get("sub", self.subscription) != self.subscription:
            raise ApiError(404, "SubscriptionNotFound", f"The subscription '{request.params['sub']}' could not be "
                                                        f"found.")

    def _group(self, request: FakeRequest, namespace: str) -> None:
        if request.params["rg"].lower() not in {g.lower() for g in self.resource_groups}:
            raise ApiError(404, "ResourceGroupNotFound", f"Resource group '{request.params['rg']}' could not be "
                                                         f"found.")
        if namespace not in self.providers:
            raise ApiError(409, "MissingSubscriptionRegistration",
                           f"The subscription is not registered to use namespace '{namespace}'. See "
                           f"https://aka.ms/rps-not-found for how to register subscriptions.")

    def _lro(self, request: FakeRequest, namespace: str, status: int, resource: dict[str, Any],
             done: Callable[[], None]) -> FakeResponse:
        op = uuid.uuid4().hex
        location = resource.get("location") or "westeurope"
        self.operations[op] = {"left": self.polls, "done": done, "resource": resource}
        version = request.query["api-version"][0]
        base = f"{self.url}/subscriptions/{self.subscription}/providers/{namespace}/locations/{location}"
        headers = {"Azure-AsyncOperation": f"{base}/operationStatuses/{op}?api-version={version}",
                   "Location": f"{base}/operationResults/{op}?api-version={version}", "Retry-After": self.retry_after}
        return status, resource if status != 202 else b"", headers

    def _advance(self, op: str) -> dict[str, Any]:
        state = self.operations.get(op)
        if state is None:
            raise ApiError(404, "OperationNotFound", f"operation {op} not found")
        if state["left"] > 0:
            state["left"] -= 1
        elif state["done"] is not None:
            state["done"]()
            state["done"] = None
        return state

    def operation_status(self, request: FakeRequest) -> FakeResponse:
        """The Azure-AsyncOperation document: InProgress, then Succeeded."""
        state = self._advance(request.params["op"])
        running = state["done"] is not None
        return 200, {"id": request.path, "name": request.params["op"],
                     "status": "InProgress" if running else "Succeeded"}, {"Retry-After": self.retry_after}

    def operation_result(self, request: FakeRequest) -> FakeResponse:
        """The Location of an operation: 202 while running, then 200 with the resource (204 once deleted)."""
        state = self._advance(request.params["op"])
        if state["done"] is not None:
            return 202, b"", {"Location": f"{self.url}{request.path}?api-version={request.query['api-version'][0]}",
                              "Retry-After": self.retry_after}
        resource = state["resource"]
        return (200, resource) if resource.get("id", "").lower() in self.resources else (204, b"")

    def register_provider(self, request: FakeRequest) -> FakeResponse:
        """The test identity may not register providers (as a role without */register/action)."""
        raise ApiError(403, "AuthorizationFailed", f"The client does not have authorization to perform action "
                                                   f"'{request.params['ns']}/register/action'.")

    # -- resources ------------------------------------------------------------------------------------------
    def add_environment(self, resource_group: str, name: str) -> str:
        """Make a Container Apps environment (and its resource group); return its resource id."""
        self.resource_groups.add(resource_group)
        rid = (f"/subscriptions/{self.subscription}/resourceGroups/{resource_group}/providers/Microsoft.App/"
               f"managedEnvironments/{name}")
        self.environments.add(rid.lower())
        return rid

    def _store(self, request: FakeRequest, kind: str, body: dict[str, Any], state: str) -> dict[str, Any]:
        resource = dict(body, id=request.path, name=request.params["name"], type=kind)
        resource["properties"] = dict(body.get("properties") or {}, provisioningState=state)
        return resource

    def _put(self, request: FakeRequest, namespace: str, kind: str, body: dict[str, Any]) -> FakeResponse:
        key = request.path.lower()
        existed = key in self.resources
        resource = self._store(request, kind, body, "InProgress")
        self.resources[key] = resource

        def done() -> None:
            resource["properties"]["provisioningState"] = "Succeeded"
            for listener in self.on_put:
                listener(kind, resource)

        # Microsoft.App answers 201 (200 for an update) with the resource; Microsoft.Web 202 with no body
        status = 202 if namespace == "Microsoft.Web" else 200 if existed else 201
        return self._lro(request, namespace, status, resource, done)

    def get_resource(self, request: FakeRequest) -> FakeResponse:
        """A resource, or ARM's ResourceNotFound."""
        self._group(request, _namespace(request.path))
        resource = self.resources.get(request.path.lower())
        if resource is None:
            raise ApiError(404, "ResourceNotFound", f"The Resource '{_namespace(request.path)}/.../"
                                                    f"{request.params['name']}' under resource group "
                                                    f"'{request.params['rg']}' was not found.")
        return 200, resource

    def list_resources(self, request: FakeRequest) -> FakeResponse:
        """The container apps of a resource group."""
        self._group(request, "Microsoft.App")
        prefix = request.path.lower() + "/"
        return 200, {"value": [r for k, r in self.resources.items() if k.startswith(prefix)]}

    def delete_resource(self, request: FakeRequest) -> FakeResponse:
        """Delete (a long-running operation for Microsoft.App); a missing resource is 204 at once."""
        namespace = _namespace(request.path)
        self._group(request, namespace)
        resource = self.resources.get(request.path.lower())
        if resource is None:
            return 204, b""

        def done() -> None:
            self.resources.pop(request.path.lower(), None)
            for listener in self.on_delete:
                listener(str(resource["type"]), resource)

        if namespace == "Microsoft.Web":  # sites and plans are deleted at once
            done()
            return 200, b""
        return self._lro(request, namespace, 202, resource, done)

    def put_container_app(self, request: FakeRequest) -> FakeResponse:
        """Create or update a Container App, checking what Microsoft.App checks."""
        self._group(request, "Microsoft.App")
        name = request.params["name"]
        if not _APP_NAME.fullmatch(name) or "--" in name:
            raise ApiError(400, "ContainerAppInvalidName",
                           f"Invalid ContainerApp name '{name}'. A name must consist of lower case alphanumeric "
                           f"characters or '-', start with a letter, end with an alphanumeric character, cannot have "
                           f"'--', and must be at most 32 characters.")
        body = request.json()
        props = body.get("properties") or {}
        if not body.get("location"):
            raise ApiError(400, "LocationRequired", "The location property is required for this definition.")
        env = props.get("managedEnvironmentId") or props.get("environmentId")
        if not env:
            raise ApiError(400, "ManagedEnvironmentIdRequired", "properties.managedEnvironmentId is required.")
        if str(env).lower() not in self.environments:
            raise ApiError(404, "ManagedEnvironmentNotFound", f"Managed environment '{env}' was not found.")
        secrets = {s.get("name") for s in (props.get("configuration") or {}).get("secrets") or []}
        containers = (props.get("template") or {}).get("containers") or []
        if not containers:
            raise ApiError(400, "ContainerAppTemplateInvalid", "template.containers must have at least one container.")
        for c in containers:
            if not c.get("name") or not c.get("image"):
                raise ApiError(400, "InvalidParameterValueInContainerTemplate",
                               "Each container needs a name and an image.")
            res = c.get("resources") or {}
            cpu, memory = round(float(res.get("cpu") or 0), 2), str(res.get("memory") or "")
            if _CPU_MEMORY.get(cpu) != memory:
                raise ApiError(400, "ContainerAppInvalidResourceTotal",
                               f"The total requested CPU and memory resources for this application (CPU: {cpu}, "
                               f"memory: {memory}) is invalid. Total CPU and memory for all containers defined in a "
                               f"Container App must add up to one of the following CPU - Memory combinations: "
                               + ", ".join(f"[cpu: {k}, memory: {v}]" for k, v in _CPU_MEMORY.items()))
            for var in c.get("env") or []:
                if var.get("secretRef") and var["secretRef"] not in secrets:
                    raise ApiError(400, "ContainerAppSecretRefNotFound",
                                   f"SecretRef '{var['secretRef']}' defined for container '{c['name']}' not found.")
        for rule in ((props.get("template") or {}).get("scale") or {}).get("rules") or []:
            for auth in (rule.get("azureQueue") or {}).get("auth") or []:
                if auth.get("secretRef") not in secrets:
                    raise ApiError(400, "ContainerAppSecretRefNotFound",
                                   f"SecretRef '{auth.get('secretRef')}' of scale rule '{rule.get('name')}' not found.")
        return self._put(request, "Microsoft.App", "Microsoft.App/containerApps", body)

    def put_plan(self, request: FakeRequest) -> FakeResponse:
        """Create an App Service plan (Flex Consumption: sku FC1, Linux)."""
        self._group(request, "Microsoft.Web")
        body = request.json()
        if not body.get("location"):
            raise ApiError(400, "LocationRequired", "The location property is required for this definition.")
        sku = (body.get("sku") or {}).get("name")
        if sku != "FC1" or not (body.get("properties") or {}).get("reserved"):
            raise ApiError(400, "BadRequest", f"Flex Consumption plans need sku FC1 and properties.reserved true "
                                              f"(Linux); got sku {sku!r}.")
        return self._put(request, "Microsoft.Web", "Microsoft.Web/serverfarms", body)

    def put_site(self, request: FakeRequest) -> FakeResponse:
        """Create a function app on a Flex Consumption plan, checking what Microsoft.Web checks."""
        self._group(request, "Microsoft.Web")
        name = request.params["name"]
        if not _SITE_NAME.fullmatch(name):
            raise ApiError(400, "InvalidSiteName", f"The site name '{name}' is invalid: 2 to 60 letters, digits and "
                                                   f"hyphens, not starting or ending with a hyphen.")
        body = request.json()
        props = body.get("properties") or {}
        plan = str(props.get("serverFarmId") or "")
        if plan.lower() not in self.resources:
            raise ApiError(404, "ServerFarmNotFound", f"Server farm '{plan}' not found.")
        fac = props.get("functionAppConfig") or {}
        runtime = fac.get("runtime") or {}
        if runtime.get("name") != "python" or not re.fullmatch(r"3\.\d+", str(runtime.get("version") or "")):
            raise ApiError(400, "BadRequest", "functionAppConfig.runtime must be {name: python, version: 3.x}.")
        storage = (fac.get("deployment") or {}).get("storage") or {}
        if storage.get("type") != "blobContainer" or not storage.get("value"):
            raise ApiError(400, "BadRequest", "functionAppConfig.deployment.storage needs type blobContainer and the "
                                              "container's URL in value.")
        memory = (fac.get("scaleAndConcurrency") or {}).get("instanceMemoryMB")
        if memory not in (512, 2048, 4096):
            raise ApiError(400, "BadRequest", f"instanceMemoryMB {memory} is invalid: 512, 2048 or 4096.")
        body = dict(body, properties=dict(props, defaultHostName=f"{name}.azurewebsites.net", state="Running"))
        return self._put(request, "Microsoft.Web", "Microsoft.Web/sites", body)

    def site_extension(self, request: FakeRequest) -> FakeResponse:
        """One deploy and host keys: handled by the test platform (``extra['onedeploy']``, ``extra['listkeys']``)."""
        self._group(request, "Microsoft.Web")
        site_id = request.path.lower().split("/extensions/")[0].split("/host/")[0]
        site = self.resources.get(site_id)
        if site is None:
            raise ApiError(404, "ResourceNotFound", f"The site '{request.params['name']}' was not found.")
        action = "listkeys" if request.path.endswith("/listkeys") else "onedeploy"
        handler = self.extra.get(action)
        if handler is None:
            raise ApiError(501, "NotImplemented", f"{action} is not served by this fake")
        return handler(request.method, site, request)


def _namespace(path: str) -> str:
    match = re.search(r"/providers/([^/]+)/", path)
    return match.group(1) if match else ""
