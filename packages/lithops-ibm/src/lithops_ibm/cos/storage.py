"""The ``ibm_cos`` storage backend: IBM Cloud Object Storage through its S3-compatible endpoint.

COS speaks the S3 API, so this backend is lithops-aws's ``aws_s3`` backend (:class:`S3Storage`: the object, bucket
and file operations, multipart transfers, missing buckets and keys) with COS's endpoints, credentials, default
bucket and error advice. With HMAC keys requests are signed with them (Signature V4). With an IAM API key they carry
no signature but an ``Authorization: Bearer <token>`` header, the token coming from ibm-cloud-sdk-core's
``IAMAuthenticator`` (which fetches it from ``ibm.iam_endpoint`` and refreshes it before it expires); the header
is set on each attempt of each request, retries included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

import botocore.exceptions
from botocore import UNSIGNED

from lithops.errors import BackendError, ConfigError
from lithops.plugins.specs import ConfigKey
from lithops.utils import is_lithops_worker
from lithops_aws.s3.storage import S3Storage
from lithops_aws.session import error_code, http_status, make_client
from lithops_ibm.iam import authenticator, bearer_token, iam_endpoint, translate
from lithops_ibm.plugin import COS_CONFIG, cos_problems

#: The Signature V4 region of requests: COS ignores it (the endpoint picks the location); boto3's own default.
SIGNING_REGION = "us-east-1"


def public_endpoint(region: str) -> str:
    """COS's public S3 endpoint of a region."""
    return f"https://s3.{region}.cloud-object-storage.appdomain.cloud"


def private_endpoint(region: str) -> str:
    """COS's private S3 endpoint of a region (reachable from IBM Cloud, e.g. from Code Engine)."""
    return f"https://s3.private.{region}.cloud-object-storage.appdomain.cloud"


class COSAccessError(BackendError):
    """COS refused the credentials (wrong HMAC keys, an IAM token without access to the bucket)."""


class COSStorage(S3Storage):
    """Objects in IBM COS buckets.

    Args:
        config: the ``ibm_cos`` section (see ``lithops_ibm.plugin.COS_CONFIG``).

    Raises:
        ConfigError: the section has no usable credentials, no region nor endpoint, or (with an API key) no bucket.
    """

    name = "ibm_cos"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = COS_CONFIG
    service = "IBM COS"
    url_scheme = "cos"
    # COS does not take the checksum trailers boto3 adds to uploads by default since 1.36 (aws-chunked bodies)
    checksums = "when_required"
    access_error = COSAccessError

    def _prepare(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The section checked (credentials, region or endpoint), with the region's endpoints when none is set."""
        section = dict(config)
        problems = cos_problems(section)
        if problems:
            raise ConfigError("ibm_cos: " + "; ".join(problems) + ".")
        if not section.get("endpoint"):
            region = str(section["region"])
            section["endpoint"] = public_endpoint(region)
            section["private_endpoint"] = section.get("private_endpoint") or private_endpoint(region)
        return section

    @property
    def hmac(self) -> bool:
        """Whether requests are signed with HMAC keys (else they carry IAM tokens)."""
        return bool(self.config.get("access_key_id") and self.config.get("secret_access_key"))

    def _endpoint_url(self) -> str:
        """``private_endpoint`` in Lithops' workers when set, else ``endpoint``."""
        private = self.config.get("private_endpoint")
        return str(private if private and is_lithops_worker() else self.config["endpoint"])

    def _new_client(self) -> Any:
        """The S3 client for COS: signed with the HMAC keys, or unsigned with the IAM token put on by a hook."""
        keys = ({"access_key_id": self.config["access_key_id"], "secret_access_key": self.config["secret_access_key"]}
                if self.hmac else {})
        options = self._client_options()
        if not self.hmac:
            options["signature_version"] = UNSIGNED
        client = make_client({"region": SIGNING_REGION, **keys}, "s3", endpoint=self.endpoint,
                             max_attempts=int(self.config["max_attempts"]), **options)
        if self.config.get("instance_identity") and not self.hmac:
            # a VPC virtual server's own identity: its metadata service exchanges it for an IAM token of the
            # server's trusted profile
            from ibm_cloud_sdk_core.authenticators import VPCInstanceAuthenticator

            self._iam_url = "the VPC instance metadata service"
            self._auth = VPCInstanceAuthenticator()
            client.meta.events.register("before-sign.s3", self._add_token)
        elif not self.hmac:
            self._iam_url = iam_endpoint(self.config)
            self._auth = authenticator(str(self.config.get("api_key") or self.config["iam_api_key"]), self._iam_url)
            client.meta.events.register("before-sign.s3", self._add_token)
        return client

    def _add_token(self, request: Any, **kwargs: Any) -> None:
        """Put the IAM bearer token on a request (each attempt asks for a valid one)."""
        try:
            token = bearer_token(self._auth)
        except Exception as exc:
            new = translate(exc, "IBM COS: getting an IAM token", self._iam_url)
            if new is exc:
                raise
            raise new from exc
        request.headers["Authorization"] = f"Bearer {token}"

    def _bucket_location(self) -> None:
        """None: the endpoint picks the location of new buckets."""
        return None

    def _translate(self, exc: BaseException, where: str) -> BaseException:
        """COS unreachable, or refusing the credentials, is an error naming the keys to fix; else as for S3."""
        if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
            return BackendError(f"{where}: could not connect to {self.endpoint}. Check ibm_cos.endpoint (or "
                                f"region) and the network.")
        code = error_code(exc)
        if http_status(exc) in (401, 403) or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            message = exc.response.get("Error", {}).get("Message") or "no message"  # type: ignore[attr-defined]
            return COSAccessError(f"{where}: COS refused the request ({code}: {message}). To fix it, "
                                  f"{self._access_fix()}.")
        return super()._translate(exc, where)

    def _access_fix(self) -> str:
        """The HMAC keys to check, or the role the API key's identity (or the VM's trusted profile) needs."""
        if self.hmac:
            return ("check ibm_cos.access_key_id and secret_access_key (HMAC keys of a service credential of this "
                    "COS instance, with the Writer role)")
        if self.config.get("instance_identity"):
            return ("give the VM's trusted profile (ibm_vpc.trusted_profile_id) the Writer role on this COS instance "
                    "or bucket (IAM > Trusted profiles > the profile > Access)")
        return "give the API key's identity the Writer role on this COS instance or bucket (IAM > Access)"

    def _default_bucket_name(self) -> str:
        """``lithops-<region>-<hash of the HMAC access key id>`` (the default bucket needs HMAC keys)."""
        region = self.config.get("region") or "cos"
        digest = hashlib.sha1(str(self.config["access_key_id"]).encode(), usedforsecurity=False).hexdigest()[:8]
        return f"lithops-{region}-{digest}"
