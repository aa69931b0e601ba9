"""COS's IAM check in front of moto's S3: a request passes only with a bearer token the local IAM issued and that
has not expired, as COS answers requests authorised with IAM tokens; the rest is moto's S3. Also a plain relay to
moto, for clients in network namespaces that cannot reach moto's loopback address (the ibm_vpc tests' VMs).
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from lithops.backends.helpers import request_body
from lithops.testing.http_fake import QuietHandler
from lithops_aws.testing.moto_server import forward
from lithops_ibm.testing.iam import FakeIAM

_DENIED = ("<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>Access Denied: "
           "{reason}</Message><Resource>{path}</Resource></Error>")

_OWNER = ("AWS4-HMAC-SHA256 Credential=iam-owner/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, "
          "Signature=0")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """No traceback for a client gone mid-request (a VM stopped with its agent's connection open)."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class BearerCOS:
    """An S3 endpoint on ``host`` that checks IAM bearer tokens with ``iam`` and forwards to moto at ``moto_url``
    (with ``iam`` None, a plain relay: requests go to moto as they are, HMAC signatures included). With ``hmac``,
    requests without a bearer token go to moto as they are too (COS takes either kind on every endpoint).

    ``refused`` counts the requests refused for their token.
    """

    def __init__(self, iam: FakeIAM | None, moto_url: str, host: str = "127.0.0.1", hmac: bool = False) -> None:
        self.iam, self.moto, self.hmac = iam, urlsplit(moto_url), hmac
        self.refused = 0
        proxy = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                body = request_body(self.headers, self.rfile)
                data = body if isinstance(body, bytes) else body.read()
                authorization = self.headers.get("Authorization", "")
                if proxy.iam is None or (proxy.hmac and not authorization.startswith("Bearer ")):
                    status, headers, out = forward(proxy.moto, self.command, self.path, self.headers, data)
                elif (reason := proxy.iam.check(authorization)) is not None:
                    proxy.refused += 1
                    status, headers, out = 403, {"Content-Type": "application/xml"}, _DENIED.format(
                        reason=reason, path=self.path).encode()
                else:
                    # moto serves anonymous requests as the public (private objects are forbidden): it is
                    # told the caller is the account's owner, in the header shape it reads the caller from
                    sent = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
                    sent["Authorization"] = _OWNER
                    status, headers, out = forward(proxy.moto, self.command, self.path, sent, data)
                self.send_whole(status, b"" if self.command == "HEAD" else out, headers)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = _Server((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def __enter__(self) -> BearerCOS:
        threading.Thread(target=self._server.serve_forever, name="bearer-cos", daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
