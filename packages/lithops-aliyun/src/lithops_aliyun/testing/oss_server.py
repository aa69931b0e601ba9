"""A local OSS service for tests and benchmarks: the object calls Lithops makes, at the HTTP level, path-style.

moto's S3 server cannot stand in for OSS: it routes requests by their AWS signature and answers the OSS SDK's
first request (PutBucket, signed ``OSS4-HMAC-SHA256``) with a 500. This service speaks OSS's wire format (XML
bodies, ``x-oss-*`` headers, OSS's error document) and refuses what OSS refuses:

- a request without a valid V4 signature of one of its access keys (``OSS4-HMAC-SHA256`` over the canonical
  request: method, URI, sorted query, ``x-oss-*``/``content-type``/``content-md5`` headers, additional headers,
  ``x-oss-content-sha256``; signing key derived from the date, region and product ``oss``): 403
  ``SignatureDoesNotMatch``, or ``InvalidAccessKeyId`` for an unknown key;
- a bucket name OSS does not accept (400 ``InvalidBucketName``), a bucket that exists (409
  ``BucketAlreadyExists``), a missing bucket or key (404 ``NoSuchBucket``/``NoSuchKey``);
- a ``Content-MD5`` that does not match the body (400 ``InvalidDigest``; DeleteMultipleObjects requires one);
- a multipart upload with a part under 100 KiB other than the last (400 ``EntityTooSmall``), unknown upload ids
  (404 ``NoSuchUpload``);
- a range starting past the object's end with ``x-oss-range-behavior: standard`` (416 ``InvalidRange``); without
  that header, as OSS does, an invalid range returns the whole object.

Objects live in memory; a put becomes visible only once its body has been read whole (atomic, as on OSS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from lithops.backends.helpers import request_body
from lithops.testing.http_fake import QuietHandler
from lithops.testing.local_server import LocalServer
from lithops.worker.http_service import BurstServer

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_AUTH_RE = re.compile(r"OSS4-HMAC-SHA256 Credential=(?P<key>[^/,]+)/(?P<date>\d{8})/(?P<region>[^/,]+)/"
                      r"(?P<product>[^/,]+)/aliyun_v4_request(?:,AdditionalHeaders=(?P<extra>[^,]*))?,"
                      r"Signature=(?P<sig>[0-9a-f]{64})")
MIN_PART_BYTES = 100 * 1024


class OSSError(Exception):
    """An error answer in OSS's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _xml(root: str, body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{body}</{root}>'.encode()


class LocalOSSServer(LocalServer):
    """The local OSS service on 127.0.0.1.

    Args:
        credentials: access key id -> secret of the accounts it accepts.
        region: region the signatures must be scoped to.
    """

    def __init__(self, credentials: dict[str, str] | None = None, region: str = "cn-hangzhou") -> None:
        self.credentials = dict(credentials or {"LTAItestkey": "test-secret"})
        self.region = region
        self.buckets: dict[str, dict[str, tuple[bytes, float, str]]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        #: (method, path) of every request, to count calls
        self.requests: list[tuple[str, str]] = []
        self._server: BurstServer | None = None

    # -- life cycle ------------------------------------------------------------------------------------------
    def start(self) -> LocalOSSServer:
        """Serve on a free loopback port in a daemon thread."""
        service = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                raw = request_body(self.headers, self.rfile) if self.command in ("PUT", "POST") else b""
                body = raw if isinstance(raw, bytes) else raw.read()
                with service.lock:
                    service.requests.append((self.command, parts.path))
                rid = uuid.uuid4().hex[:24].upper()
                try:
                    status, data, extra = service.dispatch(self.command, parts.path, parts.query, headers, body)
                except OSSError as exc:
                    status, extra = exc.status, {"Content-Type": "application/xml"}
                    data = _xml("Error", f"<Code>{exc.code}</Code><Message>{escape(exc.message)}</Message>"
                                         f"<RequestId>{rid}</RequestId><HostId>127.0.0.1</HostId>")
                    if self.command == "HEAD":  # no body: OSS puts the error document in x-oss-err
                        extra["x-oss-err"] = base64.b64encode(data).decode()
                        data = b""
                    extra["x-oss-ec"] = "0000-00000000"
                length = extra.pop("Content-Length", None)
                out = {"x-oss-request-id": rid, "Date": formatdate(usegmt=True), **extra}
                if self.command == "HEAD":
                    out["Content-Length"] = length or "0"
                    self.send_whole(status, b"", out)
                else:
                    self.send_whole(status, data, out)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.serve(Handler)
        return self

    # -- signature -------------------------------------------------------------------------------------------
    def check_signature(self, method: str, path: str, query: str, headers: dict[str, str]) -> None:
        """Refuse a request not signed (V4) with a known key, for this region and product ``oss``."""
        auth = headers.get("authorization", "")
        match = _AUTH_RE.fullmatch(auth)
        if match is None:
            raise OSSError(403, "AccessDenied", "The request is not signed with OSS4-HMAC-SHA256.")
        secret = self.credentials.get(match["key"])
        if secret is None:
            raise OSSError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our "
                                                      "records.")
        if match["region"] != self.region or match["product"] != "oss":
            raise OSSError(400, "InvalidArgument", f"Invalid signing region in Authorization header "
                                                   f"({match['region']}; this endpoint is {self.region}).")
        stamp = headers.get("x-oss-date", "")
        if not stamp.startswith(match["date"]):
            raise OSSError(403, "SignatureDoesNotMatch", "x-oss-date does not match the credential scope date.")
        extra = [h for h in (match["extra"] or "").split(";") if h]
        signed = sorted((k, v) for k, v in headers.items()
                        if k.startswith("x-oss-") or k in ("content-type", "content-md5") or k in extra)
        pairs = sorted(p.partition("=")[::2] for p in query.split("&") if p)
        canonical_query = "&".join(f"{k}={v}" if v else k for k, v in pairs)
        canonical = "\n".join([
            method, quote(unquote(path), safe="/"), canonical_query,
            "".join(f"{k}:{v.strip()}\n" for k, v in signed), ";".join(extra),
            headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ])
        to_sign = "\n".join(["OSS4-HMAC-SHA256", stamp, f"{match['date']}/{self.region}/oss/aliyun_v4_request",
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("aliyun_v4" + secret).encode()
        for part in (match["date"], self.region, "oss", "aliyun_v4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["sig"]):
            raise OSSError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                         "signature you provided.")

    # -- dispatch --------------------------------------------------------------------------------------------
    def dispatch(self, method: str, path: str, query: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """Answer one request: ``(status, body, headers)``; :class:`OSSError` for an error answer."""
        self.check_signature(method, path, query, headers)
        params = dict(parse_qsl(query, keep_blank_values=True))
        bucket, _, key = unquote(path).lstrip("/").partition("/")
        md5 = headers.get("content-md5")
        if md5 and base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode() != md5:
            raise OSSError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
        if not _BUCKET_RE.fullmatch(bucket):
            raise OSSError(400, "InvalidBucketName", f"The specified bucket is not valid: {bucket!r}.")
        with self.lock:
            if not key:
                return self._bucket_call(method, bucket, params, headers, body)
            objects = self.buckets.get(bucket)
            if objects is None:
                raise OSSError(404, "NoSuchBucket", "The specified bucket does not exist.")
            return self._object_call(method, bucket, objects, key, params, headers, body)

    def _bucket_call(self, method: str, bucket: str, params: dict[str, str], headers: dict[str, str],
                     body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if method == "PUT" and not params:
            if bucket in self.buckets:
                raise OSSError(409, "BucketAlreadyExists", "The requested bucket name is not available.")
            self.buckets[bucket] = {}
            return 200, b"", {}
        objects = self.buckets.get(bucket)
        if objects is None:
            raise OSSError(404, "NoSuchBucket", "The specified bucket does not exist.")
        if method == "GET" and "bucketInfo" in params:
            info = (f"<Bucket><Name>{bucket}</Name><Location>oss-{self.region}</Location>"
                    f"<Region>{self.region}</Region><StorageClass>Standard</StorageClass></Bucket>")
            return 200, _xml("BucketInfo", info), {"Content-Type": "application/xml"}
        if method == "GET" and params.get("list-type") == "2":
            return self._list(bucket, objects, params)
        if method == "POST" and "delete" in params:
            if not headers.get("content-md5"):
                raise OSSError(400, "MissingArgument", "Content-MD5 is required by DeleteMultipleObjects.")
            root = ElementTree.fromstring(body)
            encoded = params.get("encoding-type") == "url"
            for node in root.iter("Key"):
                objects.pop(unquote(node.text or "") if encoded else node.text or "", None)
            return 200, _xml("DeleteResult", ""), {"Content-Type": "application/xml"}
        raise OSSError(400, "InvalidRequest", f"{method} on a bucket with {sorted(params)} is not supported here.")

    def _list(self, bucket: str, objects: dict[str, tuple[bytes, float, str]],
              params: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        prefix = params.get("prefix", "")
        after = params.get("continuation-token") or params.get("start-after") or ""
        limit = int(params.get("max-keys") or 100)
        if not 1 <= limit <= 1000:
            raise OSSError(400, "InvalidArgument", "max-keys must be between 1 and 1000.")
        keys = sorted(k for k in objects if k.startswith(prefix) and k > after)
        page, more = keys[:limit], len(keys) > limit
        encode = (lambda s: quote(s, safe="")) if params.get("encoding-type") == "url" else escape
        items = "".join(
            f"<Contents><Key>{encode(k)}</Key><LastModified>{_iso(objects[k][1])}</LastModified>"
            f"<ETag>\"{objects[k][2]}\"</ETag><Type>Normal</Type><Size>{len(objects[k][0])}</Size>"
            f"<StorageClass>Standard</StorageClass></Contents>" for k in page)
        tail = f"<NextContinuationToken>{encode(page[-1])}</NextContinuationToken>" if more else ""
        enc = "<EncodingType>url</EncodingType>" if params.get("encoding-type") == "url" else ""
        body = (f"<Name>{bucket}</Name><Prefix>{encode(prefix)}</Prefix><MaxKeys>{limit}</MaxKeys>"
                f"<KeyCount>{len(page)}</KeyCount><IsTruncated>{str(more).lower()}</IsTruncated>{enc}{items}{tail}")
        return 200, _xml("ListBucketResult", body), {"Content-Type": "application/xml"}

    def _object_call(self, method: str, bucket: str, objects: dict[str, tuple[bytes, float, str]], key: str,
                     params: dict[str, str], headers: dict[str, str],
                     body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if method == "POST" and "uploads" in params:
            upload = uuid.uuid4().hex.upper()
            self.uploads[upload] = {"bucket": bucket, "key": key, "parts": {}}
            result = f"<Bucket>{bucket}</Bucket><Key>{escape(key)}</Key><UploadId>{upload}</UploadId>"
            return 200, _xml("InitiateMultipartUploadResult", result), {"Content-Type": "application/xml"}
        if "uploadId" in params:
            return self._multipart(method, bucket, objects, key, params, body)
        if method == "PUT":
            etag = hashlib.md5(body, usedforsecurity=False).hexdigest().upper()
            objects[key] = (body, time.time(), etag)
            return 200, b"", {"ETag": f'"{etag}"'}
        if method == "DELETE":
            objects.pop(key, None)
            return 204, b"", {}
        found = objects.get(key)
        if found is None:
            raise OSSError(404, "NoSuchKey", "The specified key does not exist.")
        data, modified, etag = found
        meta = {"ETag": f'"{etag}"', "Last-Modified": formatdate(modified, usegmt=True),
                "Content-Type": "application/octet-stream", "x-oss-object-type": "Normal",
                "Accept-Ranges": "bytes"}
        if method == "HEAD":
            return 200, b"", {**meta, "Content-Length": str(len(data))}
        if method != "GET":
            raise OSSError(405, "MethodNotAllowed", f"{method} is not allowed on an object.")
        status, part = 200, data
        rng = headers.get("range")
        if rng:
            window = _range(rng, len(data), headers.get("x-oss-range-behavior") == "standard")
            if window is not None:
                start, end = window
                status, part = 206, data[start:end]
                meta["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        return status, part, meta

    def _multipart(self, method: str, bucket: str, objects: dict[str, tuple[bytes, float, str]], key: str,
                   params: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        upload = self.uploads.get(params["uploadId"])
        if upload is None or upload["bucket"] != bucket or upload["key"] != key:
            raise OSSError(404, "NoSuchUpload", "The specified upload does not exist.")
        if method == "PUT":
            number = int(params.get("partNumber") or 0)
            if not 1 <= number <= 10000:
                raise OSSError(400, "InvalidArgument", "partNumber must be between 1 and 10000.")
            etag = hashlib.md5(body, usedforsecurity=False).hexdigest().upper()
            upload["parts"][number] = (body, etag)
            return 200, b"", {"ETag": f'"{etag}"'}
        if method == "DELETE":
            del self.uploads[params["uploadId"]]
            return 204, b"", {}
        if method == "POST":
            root = ElementTree.fromstring(body)
            listed = [(int(p.findtext("PartNumber") or 0), (p.findtext("ETag") or "").strip('"'))
                      for p in root.iter("Part")]
            if not listed or [n for n, _ in listed] != sorted({n for n, _ in listed}):
                raise OSSError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
            chunks = []
            for i, (number, etag) in enumerate(listed):
                part = upload["parts"].get(number)
                if part is None or part[1] != etag.upper():
                    raise OSSError(400, "InvalidPart", f"Part {number} was not uploaded, or its ETag differs.")
                if i < len(listed) - 1 and len(part[0]) < MIN_PART_BYTES:
                    raise OSSError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum "
                                                          "allowed object size (100 KB per part but the last).")
                chunks.append(part[0])
            data = b"".join(chunks)
            etag = hashlib.md5(data, usedforsecurity=False).hexdigest().upper() + f"-{len(listed)}"
            objects[key] = (data, time.time(), etag)
            del self.uploads[params["uploadId"]]
            result = f"<Bucket>{bucket}</Bucket><Key>{escape(key)}</Key><ETag>\"{etag}\"</ETag>"
            return 200, _xml("CompleteMultipartUploadResult", result), {"Content-Type": "application/xml"}
        raise OSSError(405, "MethodNotAllowed", f"{method} is not allowed on a multipart upload.")


def _range(header: str, size: int, standard: bool) -> tuple[int, int] | None:
    """The (start, end-exclusive) window of a Range header; None for the whole object (OSS's legacy answer to an
    invalid range); 416 ``InvalidRange`` for a range past the end with standard behaviour.
    """
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        count = int(match[2])
        return (max(0, size - count), size) if count else None
    start = int(match[1])
    end = int(match[2]) + 1 if match[2] else size
    if start >= size:
        if standard:
            raise OSSError(416, "InvalidRange", "The requested range cannot be satisfied.")
        return None
    if end > size and not standard:
        return None
    if end <= start:
        return None
    return start, min(end, size)
