"""EC2 in front of moto for the tests: the instances moto "creates" are played by network-namespace hosts
(:mod:`lithops_vm.testing.netns`), and EC2's refusals that moto does not make are made here.

The layer serves on the hosts' bridge address, so the hosts reach it (S3 included: every request goes on to moto).
For each instance that RunInstances makes, a free host plays the VM: the layer starts an instance metadata service
(IMDSv2, on 169.254.169.254 inside the host's namespace) that answers the instance id, and runs the instance's user
data there as cloud-init would (as root, ``sh <file>``), with credentials in the environment standing for the
instance profile's. StartInstances boots the host again (what the cloud-init per-boot script does on a real VM);
StopInstances and TerminateInstances end every process of the host but its sshd. DescribeInstances reports each
instance's private and public address as its host's, so SSH (consume mode, ``lithops attach``) reaches the host.

Like EC2 and unlike moto:

- a stopped instance stays ``stopping`` for ``stop_delay`` seconds, and StartInstances refuses it meanwhile with
  ``IncorrectInstanceState``;
- an instance profile created through the layer is unknown to RunInstances for ``profile_delay`` seconds
  (``InvalidParameterValue: ... Invalid IAM Instance Profile name``), as IAM's changes take a while to reach EC2.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from http.server import ThreadingHTTPServer

from lithops.backends.helpers import request_body
from lithops.testing.http_fake import QuietHandler
from lithops_aws.testing.moto_server import forward
from lithops_vm.testing.cloud_vms import CloudVMs, MetadataRoute
from lithops_vm.testing.netns import Host, HostNetwork

ET.register_namespace("", "http://ec2.amazonaws.com/doc/2016-11-15")  # moto's; answers are written back with it

#: The instance metadata service (IMDSv2): a session token, then the instance id with it.
IMDS_TOKEN = "imds-token"


def _metadata(instance: str) -> list[MetadataRoute]:
    return [MetadataRoute("/latest/api/token", IMDS_TOKEN, method="PUT"),
            MetadataRoute("/latest/meta-data/instance-id", instance,
                          headers={"X-aws-ec2-metadata-token": IMDS_TOKEN})]


def _error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code><Message>'
            f'{message}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>').encode()


def _local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c) == name), None)


def _ids(form: dict[str, list[str]]) -> list[str]:
    return [v[0] for k, v in sorted(form.items()) if k.startswith("InstanceId.")]


class EC2Fleet:
    """The layer. ``url`` is the endpoint for EC2, IAM and S3; :meth:`close` ends the hosts' processes.

    Args:
        moto_url: the moto server behind.
        network: the hosts; ``hosts`` of them play instances (default: all).
        stop_delay: seconds an instance is ``stopping`` after StopInstances.
        profile_delay: seconds before RunInstances accepts an instance profile created through the layer.
        boot_delay: seconds a started instance takes to boot before its user data runs.
    """

    def __init__(self, moto_url: str, network: HostNetwork, hosts: list[Host] | None = None,
                 stop_delay: float = 3.0, profile_delay: float = 3.0, boot_delay: float = 0.0) -> None:
        self.moto = urllib.parse.urlsplit(moto_url)
        self.network = network
        self.stop_delay = stop_delay
        self.profile_delay = profile_delay
        self.url = ""
        #: the form of each request received, by Action
        self.requests: dict[str, list[dict[str, list[str]]]] = {}
        #: the errors the layer answered (``Code: message``)
        self.refused: list[str] = []
        #: the hosts playing instances (``hosts``, ``user_data`` and ``boots`` by instance id, ``log(id)``)
        self.vms = CloudVMs(network, _metadata, hosts=hosts, boot_delay=boot_delay,
                            env={"AWS_ACCESS_KEY_ID": "instance-role", "AWS_SECRET_ACCESS_KEY": "instance-role",
                                 "AWS_DEFAULT_REGION": "us-east-1"})
        self.hosts, self.user_data, self.boots, self.log = self.vms.hosts, self.vms.user_data, self.vms.boots, \
            self.vms.log
        self._stopping: dict[str, float] = {}
        self._profiles: dict[str, float] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- requests --------------------------------------------------------------------------------------------------
    def problem(self, action: str, form: dict[str, list[str]]) -> tuple[str, str] | None:
        """The error EC2 would answer (and moto would not), or None."""
        now = time.monotonic()
        with self._lock:
            if action == "RunInstances":
                profile = (form.get("IamInstanceProfile.Name") or form.get("IamInstanceProfile.Arn") or [""])[0]
                name = profile.rsplit("/", 1)[-1]
                if name in self._profiles and now - self._profiles[name] < self.profile_delay:
                    return ("InvalidParameterValue", f"Value ({profile}) for parameter iamInstanceProfile.name is "
                                                     f"invalid. Invalid IAM Instance Profile name")
            if action == "StartInstances":
                for instance in _ids(form):
                    if self._stopping.get(instance, 0) > now:
                        return ("IncorrectInstanceState", f"The instance '{instance}' is not in a state from which "
                                                          f"it can be started.")
        return None

    def after(self, action: str, form: dict[str, list[str]], answer: bytes) -> bytes:
        """Follow up a request moto accepted; return the answer to send."""
        now = time.monotonic()
        if action == "CreateInstanceProfile":
            with self._lock:
                self._profiles[form["InstanceProfileName"][0]] = now
        elif action == "RunInstances":
            root = ET.fromstring(answer)
            made = [e.text or "" for e in root.iter() if _local(e) == "instanceId"]
            script = base64.b64decode(form["UserData"][0]).decode() if form.get("UserData") else ""
            for instance in made:
                self.vms.assign(instance, script)
        elif action == "StartInstances":
            for instance in _ids(form):
                if instance in self.hosts:
                    self.vms.boot_later(instance)
        elif action in ("StopInstances", "TerminateInstances"):
            for instance in _ids(form):
                if action == "StopInstances":
                    with self._lock:
                        self._stopping[instance] = now + self.stop_delay
                    self.vms.stop(instance)
                else:
                    self.vms.delete(instance)
        elif action == "DescribeInstances":
            root = ET.fromstring(answer)
            for item in [e for e in root.iter() if _local(e) == "item"]:
                found, state = _child(item, "instanceId"), _child(item, "instanceState")
                if found is None or state is None:
                    continue
                instance = found.text or ""
                with self._lock:
                    stopping = self._stopping.get(instance, 0) > now
                address = self.vms.address(instance)
                if stopping:
                    for name, value in (("code", "64"), ("name", "stopping")):
                        element = _child(state, name)
                        if element is not None:
                            element.text = value
                if address is not None:
                    for tag in ("privateIpAddress", "ipAddress"):
                        element = _child(item, tag)
                        if element is None:
                            element = ET.SubElement(item, tag)
                        element.text = address
            answer = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return answer

    # -- serving ---------------------------------------------------------------------------------------------------
    def start(self) -> EC2Fleet:
        """Serve on the hosts' bridge address."""
        layer = self

        class Handler(_Handler):
            fleet = layer

        self._httpd = ThreadingHTTPServer((self.network.gateway, 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://{self.network.gateway}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, name="strict-ec2", daemon=True).start()
        return self

    def close(self) -> None:
        """Stop serving; end every process the instances started."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.vms.close()


class _Handler(QuietHandler):
    fleet: EC2Fleet

    def _handle(self) -> None:
        body = request_body(self.headers, self.rfile)
        assert isinstance(body, bytes)
        form: dict[str, list[str]] = {}
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        action = (form.get("Action") or [""])[0]
        if action:
            self.fleet.requests.setdefault(action, []).append(form)
        problem = self.fleet.problem(action, form) if action else None
        if problem:
            self.fleet.refused.append(f"{problem[0]}: {problem[1]}")
            self.send_whole(400, _error(*problem), {"Content-Type": "text/xml"})
            return
        status, out, data = forward(self.fleet.moto, self.command, self.path, self.headers, body)
        if status == 200 and action:
            data = self.fleet.after(action, form, data)
        self.send_whole(status, data, out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle
