"""The validating layers the tests put in front of moto relay S3 answers as moto gives them."""

from __future__ import annotations

import http.client
import urllib.parse
from typing import Any

import boto3
from strict_aws import StrictAWS


def test_a_head_answer_keeps_the_objects_size_as_its_only_content_length(moto: Any) -> None:
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    s3.create_bucket(Bucket="relay-head")
    s3.put_object(Bucket="relay-head", Key="k", Body=b"x" * 1234)
    with StrictAWS(moto.url) as layer:
        signed = boto3.client("s3", endpoint_url=layer.url, region_name="us-east-1").generate_presigned_url(
            "head_object", Params={"Bucket": "relay-head", "Key": "k"}, HttpMethod="HEAD")
        url = urllib.parse.urlsplit(signed)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
        try:
            conn.request("HEAD", f"{url.path}?{url.query}")
            resp = conn.getresponse()
            resp.read()
            lengths = [v for k, v in resp.getheaders() if k.lower() == "content-length"]
        finally:
            conn.close()
    assert resp.status == 200
    assert lengths == ["1234"]
