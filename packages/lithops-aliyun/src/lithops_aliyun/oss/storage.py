"""The ``aliyun_oss`` storage backend: Alibaba Cloud Object Storage Service through ``alibabacloud-oss-v2``.

The current OSS SDK is used rather than ``oss2``: it is the one Alibaba maintains (V4 signatures by default, the
credential providers of the other SDKs, a paginated ListObjectsV2, a multipart uploader that streams). Big file
bodies are uploaded in parts; ranged reads ask for OSS's standard range behaviour (a range past the end is cut
short, as the Storage API wants, instead of OSS's legacy answer of the whole object). Workers running in Function
Compute in the bucket's region reach OSS through the region's internal endpoint (no Internet traffic).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, BinaryIO, ClassVar

import alibabacloud_oss_v2 as oss

from lithops.backends.helpers import body_stream
from lithops.backends.storage import StorageBackend
from lithops.errors import BackendError, ConfigError
from lithops.plugins import ConfigKey
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops_aliyun.plugin import OSS_CONFIG
from lithops_aliyun.session import (
    credential_client,
    is_credentials_problem,
    key_digest,
    no_credentials,
    region_of,
    split_endpoint,
)

#: What OSS accepts as a bucket name.
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_MISSING_BUCKET, _MISSING_KEY = "NoSuchBucket", "NoSuchKey"
#: Buckets this process has seen exist (or created): default_bucket checks each once.
_CHECKED_BUCKETS: set[str] = set()


class _ChainCredentials(oss.credentials.CredentialsProvider):  # type: ignore[misc]
    """OSS credentials from an ``alibabacloud_credentials`` client (the section's keys or the default chain)."""

    def __init__(self, section: Mapping[str, Any]) -> None:
        self._client = credential_client(section)

    def get_credentials(self) -> Any:
        cred = self._client.get_credential()
        return oss.credentials.Credentials(cred.access_key_id, cred.access_key_secret, cred.security_token or None)


class _BodyReader(io.RawIOBase):
    """A readable binary file over the chunks of an OSS response body."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._chunks: Iterator[bytes] = iter(body.iter_bytes(block_size=256 * 1024))
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _WholeReads:
    """A file whose ``read(n)`` returns ``n`` bytes unless the end comes first: the uploader makes one part of
    each read, and OSS refuses parts under 100 KiB but the last, so a short read of a slow file must not end one.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self._stream.read()
        chunks, missing = [], size
        while missing > 0:
            chunk = self._stream.read(missing)
            if not chunk:
                break
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)


def _unwrapped(exc: BaseException, attribute: str) -> str | None:
    """The first non-empty string ``attribute`` of an SDK exception or of those it wraps (an OperationError wraps
    a ServiceError; ``unwrap()`` gives the inner one).
    """
    seen: BaseException | None = exc
    while seen is not None:
        value = getattr(seen, attribute, None)
        if isinstance(value, str) and value:
            return value
        unwrap = getattr(seen, "unwrap", None)
        inner = unwrap() if callable(unwrap) else None
        seen = inner if inner is not seen else None
    return None


def _code(exc: BaseException) -> str | None:
    """OSS's error code of an SDK exception."""
    return _unwrapped(exc, "code")


def _httpdate(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return str(value)


class OSSStorage(StorageBackend):
    """Objects in Alibaba Cloud OSS.

    Args:
        config: the ``aliyun_oss`` section (see ``lithops_aliyun.plugin.OSS_CONFIG``).
    """

    name = "aliyun_oss"
    config_schema: ClassVar[Mapping[str, ConfigKey]] = OSS_CONFIG

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.region = region_of(self.config, "aliyun_oss")
        cfg = oss.config.load_default()
        cfg.region = self.region
        cfg.credentials_provider = _ChainCredentials(self.config)
        cfg.connect_timeout = float(self.config["connect_timeout"])
        cfg.readwrite_timeout = float(self.config["read_timeout"])
        cfg.retry_max_attempts = int(self.config["max_attempts"])
        endpoint = self._endpoint()
        if endpoint:
            scheme, host = split_endpoint(endpoint)
            cfg.endpoint = f"{scheme}://{host}"
            cfg.disable_ssl = scheme == "http"
            # an explicit host:port (an emulator, a private gateway) does not resolve bucket sub-domains
            cfg.use_path_style = ":" in host
        elif self._in_fc_region() and self.config["internal_endpoint"] is True:
            cfg.use_internal_endpoint = True
        self.endpoint = cfg.endpoint or f"oss-{self.region}{'-internal' if cfg.use_internal_endpoint else ''}" \
                                        f".aliyuncs.com"
        self.client = oss.Client(cfg)
        self.part_size = int(self.config["multipart_chunksize"])
        self.threshold = int(self.config["multipart_threshold"])

    def _in_fc_region(self) -> bool:
        return os.environ.get("FC_REGION") == self.region

    def _endpoint(self) -> str | None:
        internal = self.config["internal_endpoint"]
        if isinstance(internal, str) and internal and self._in_fc_region():
            return internal
        return self.config.get("endpoint")

    def default_bucket(self) -> str:
        """``storage_bucket``, else ``lithops-<region>-<account id or key digest>`` (stable for one caller), which
        is created in the region when absent (checked once per process). A configured bucket is never created: a
        misspelt name is an error, not a new bucket.
        """
        if self.config.get("storage_bucket"):
            return str(self.config["storage_bucket"])
        bucket = f"lithops-{self.region}-{key_digest(self.config)}".lower()[:63]
        if bucket not in _CHECKED_BUCKETS:
            try:
                self.head_bucket(bucket)
            except StorageNoSuchBucketError:
                self.create_bucket(bucket)
            _CHECKED_BUCKETS.add(bucket)
        self.config["storage_bucket"] = bucket
        return bucket

    # -- errors ----------------------------------------------------------------------------------------------
    def _fail(self, exc: Exception, bucket: str, key: str | None = None) -> Exception:
        code = _code(exc)
        if code is None and is_credentials_problem(exc):
            return no_credentials(exc)
        if code == _MISSING_BUCKET:
            return StorageNoSuchBucketError(bucket)
        if code == _MISSING_KEY and key is not None:
            return StorageNoSuchKeyError(bucket, key)
        if code is None and not isinstance(exc, oss.exceptions.ServiceError):
            text = str(exc)
            if "Bucket name is invalid" in text:
                return ConfigError(f"aliyun_oss: bucket name {bucket!r} is not valid for OSS (3-63 lower-case "
                                   f"letters, digits and hyphens). Change aliyun_oss.storage_bucket.")
            if _is_connection_problem(exc):
                return BackendError(f"OSS at {self.endpoint} did not answer ({_first_line(exc)}). Check the "
                                    f"network, aliyun_oss.region and aliyun_oss.endpoint.")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            return BackendError(f"OSS refused the request on bucket {bucket} ({code}: {_oss_message(exc)}). Check "
                                f"aliyun.access_key_id and access_key_secret, and that the RAM user may use the "
                                f"bucket (AliyunOSSFullAccess).")
        return BackendError(f"OSS request on bucket {bucket} failed: {code or type(exc).__name__}: "
                            f"{_oss_message(exc)}")

    # -- objects ---------------------------------------------------------------------------------------------
    def put_object(self, bucket: str, key: str, body: bytes | str | BinaryIO) -> None:
        """Store an object (a file body is streamed; from ``multipart_threshold`` bytes in parts)."""
        try:
            if isinstance(body, (bytes, bytearray, memoryview, str)):
                data = body.encode() if isinstance(body, str) else bytes(body)
                self.client.put_object(oss.PutObjectRequest(bucket=bucket, key=key, body=data))
                return
            stream = body_stream(body)
            uploader = self.client.uploader(part_size=self.part_size, parallel_num=4)
            size = _remaining_size(stream)
            if size is not None and size < self.threshold:
                self.client.put_object(oss.PutObjectRequest(bucket=bucket, key=key, body=stream.read()))
            else:
                uploader.upload_from(oss.PutObjectRequest(bucket=bucket, key=key), _WholeReads(stream))
        except Exception as exc:
            raise self._fail(exc, bucket) from None

    def get_object(self, bucket: str, key: str, stream: bool = False,
                   extra_get_args: Mapping[str, Any] | None = None) -> bytes | BinaryIO:
        """The object's bytes, a ``Range`` of them, or a stream with ``stream=True``."""
        header = (extra_get_args or {}).get("Range")
        request = oss.GetObjectRequest(bucket=bucket, key=key, range_header=header,
                                       range_behavior="standard" if header else None)
        try:
            result = self.client.get_object(request)
        except Exception as exc:
            if header and _code(exc) == "InvalidRange":  # a range starting at or past the end: nothing
                return io.BytesIO(b"") if stream else b""
            raise self._fail(exc, bucket, key) from None
        if stream:
            return io.BufferedReader(_BodyReader(result.body), 256 * 1024)  # type: ignore[return-value]
        with result.body as body:
            return bytes(body.read())

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """Size, modification time and ETag of an object."""
        try:
            result = self.client.head_object(oss.HeadObjectRequest(bucket=bucket, key=key))
        except Exception as exc:
            raise self._fail(exc, bucket, key) from None
        meta = {k.lower(): v for k, v in (result.headers or {}).items()}
        meta.update({"content-length": str(result.content_length), "last-modified": _httpdate(result.last_modified),
                     "etag": str(result.etag or "").strip('"')})
        return meta

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a missing one is not an error)."""
        try:
            self.client.delete_object(oss.DeleteObjectRequest(bucket=bucket, key=key))
        except Exception as exc:
            raise self._fail(exc, bucket) from None

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Delete many objects, 1000 per request."""
        for start in range(0, len(key_list), 1000):
            batch = [oss.DeleteObject(key=k) for k in key_list[start:start + 1000]]
            try:
                self.client.delete_multiple_objects(
                    oss.DeleteMultipleObjectsRequest(bucket=bucket, objects=batch, quiet=True))
            except Exception as exc:
                raise self._fail(exc, bucket) from None

    # -- buckets ---------------------------------------------------------------------------------------------
    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """Bucket metadata, shaped as boto3's answer (as Lithops returns it on every backend)."""
        try:
            result = self.client.get_bucket_info(oss.GetBucketInfoRequest(bucket=bucket))
        except Exception as exc:
            raise self._fail(exc, bucket) from None
        headers = dict(result.headers or {})
        return {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": headers}}

    def create_bucket(self, bucket: str) -> None:
        """Create a bucket in the region; an existing one of this account is left alone."""
        if not BUCKET_RE.fullmatch(bucket):
            raise ConfigError(f"aliyun_oss: bucket name {bucket!r} is not valid for OSS (3-63 lower-case letters, "
                              f"digits and hyphens). Change aliyun_oss.storage_bucket.")
        try:
            self.client.put_bucket(oss.PutBucketRequest(bucket=bucket))
        except Exception as exc:
            if _code(exc) == "BucketAlreadyExists":
                try:  # ours (fine) or another account's (that name is taken)
                    self.head_bucket(bucket)
                    return
                except BackendError:
                    raise BackendError(f"OSS bucket {bucket} belongs to another account. Choose another "
                                       f"aliyun_oss.storage_bucket.") from None
            raise self._fail(exc, bucket) from None

    def list_objects(self, bucket: str, prefix: str | None = None,
                     match_pattern: str | None = None) -> list[dict[str, Any]]:
        """Objects whose key starts with ``prefix`` (and matches the glob), sorted by key."""
        import fnmatch

        found = []
        paginator = self.client.list_objects_v2_paginator()
        try:
            for page in paginator.iter_page(oss.ListObjectsV2Request(bucket=bucket, prefix=prefix or None,
                                                                     max_keys=1000)):
                for obj in page.contents or []:
                    if match_pattern is None or fnmatch.fnmatch(obj.key, match_pattern):
                        found.append({"Key": obj.key, "Size": int(obj.size or 0), "LastModified": obj.last_modified,
                                      "ETag": str(obj.etag or "").strip('"')})
        except Exception as exc:
            raise self._fail(exc, bucket) from None
        return sorted(found, key=lambda o: o["Key"])

    def get_client(self) -> Any:
        """The ``alibabacloud_oss_v2.Client``."""
        return self.client


def _remaining_size(stream: BinaryIO) -> int | None:
    try:
        pos = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(pos)
        return int(end - pos)
    except (OSError, AttributeError, ValueError):
        return None


def _is_connection_problem(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(word in text for word in ("Connection", "connect", "Timeout", "timed out", "RequestError"))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _oss_message(exc: BaseException) -> str:
    return _unwrapped(exc, "message") or _first_line(exc)
