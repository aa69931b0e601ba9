"""aws_s3 beyond the contract: config sections and credentials, S3-compatible endpoints, large bodies, faults."""

from __future__ import annotations

import io
import os
import time
import uuid
from typing import Any

import boto3
import pytest

import lithops
from lithops.config import default_config, load_storage_config
from lithops.errors import ConfigError
from lithops.storage.utils import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops_aws.s3.storage import S3Storage
from lithops_aws.session import AWSConnectionError, AWSCredentialsError
from lithops_aws.testing.moto_server import MotoServer, free_port


def test_aws_section_fills_in_every_aws_backend() -> None:
    config = default_config({
        "lithops": {"backend": "aws_lambda", "storage": "aws_s3"},
        "aws": {"region": "eu-west-1", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s", "account_id": "1"},
        "aws_s3": {"storage_bucket": "b", "region": "eu-south-2"},
    })
    assert config["aws_lambda"]["region"] == "eu-west-1" and config["aws_lambda"]["account_id"] == "1"
    assert config["aws_lambda"]["access_key_id"] == "AKIAEXAMPLE"
    assert config["aws_s3"]["region"] == "eu-south-2"  # the backend's own section wins
    assert config["aws_s3"]["access_key_id"] == "AKIAEXAMPLE"
    storage = load_storage_config({"lithops": {"storage": "aws_s3"}, "aws": {"region": "ap-south-1"}})
    assert storage["aws_s3"]["region"] == "ap-south-1"


def test_lithops3_config_keys_are_known() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default_config({
            "lithops": {"backend": "aws_lambda", "storage": "aws_s3"},
            "aws": {"region": "us-east-1", "access_key_id": "a", "secret_access_key": "b", "session_token": "c"},
            "aws_lambda": {"execution_role": "arn:aws:iam::1:role/r", "runtime": "rt", "runtime_memory": 512,
                           "runtime_timeout": 300, "max_workers": 100, "worker_processes": 2,
                           "invoke_pool_threads": 32, "architecture": "arm64", "ephemeral_storage": 1024,
                           "env_vars": {"A": "1"}, "vpc": {"subnets": ["s"], "security_groups": ["g"]},
                           "efs": [{"access_point": "ap", "mount_path": "/mnt/efs"}], "user_tags": {"t": "v"}},
            "aws_s3": {"storage_bucket": "b", "max_pool_connections": 100},
        })


def test_half_a_key_pair_is_a_config_error() -> None:
    with pytest.raises(AWSCredentialsError, match="secret_access_key is not set but its pair is"):
        S3Storage({"access_key_id": "AKIA", "storage_bucket": "b"})
    assert issubclass(AWSCredentialsError, ConfigError)


def test_no_credentials_anywhere(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = S3Storage({"endpoint": moto.url, "storage_bucket": "nocreds", "region": "us-east-1"})
    with pytest.raises(AWSCredentialsError, match=r"no AWS credentials found.*AWS_ACCESS_KEY_ID.*aws configure"):
        storage.put_object("nocreds", "k", b"v")
    with pytest.raises(AWSCredentialsError):
        storage.default_bucket() if not storage.config.get("storage_bucket") else storage.list_keys("nocreds")


def test_credentials_from_a_profile_file(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[lithops-test]\naws_access_key_id = fromprofile\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = S3Storage({"endpoint": moto.url, "config_profile": "lithops-test", "storage_bucket": "profile-b"})
    storage.create_bucket("profile-b")
    storage.put_object("profile-b", "k", b"v")
    assert storage.get_object("profile-b", "k") == b"v"
    with pytest.raises(AWSCredentialsError, match="config_profile"):
        S3Storage({"endpoint": moto.url, "config_profile": "no-such-profile"})


@pytest.fixture(scope="module")
def strict_moto() -> Any:
    """A moto server that checks credentials (every request needs a real IAM access key)."""
    with MotoServer(subprocess=True, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        yield server


def test_wrong_credentials(strict_moto: MotoServer) -> None:
    storage = S3Storage({"endpoint": strict_moto.url, "storage_bucket": "b", "access_key_id": "AKIAWRONG",
                         "secret_access_key": "wrong"})
    start = time.monotonic()
    with pytest.raises(AWSCredentialsError, match=r"AWS rejected the credentials \(InvalidAccessKeyId"):
        storage.put_object("b", "k", b"v")
    assert time.monotonic() - start < 10


def test_s3_endpoint_down_is_a_clear_error_without_hanging() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    storage = S3Storage({"endpoint": url, "storage_bucket": "b", "max_attempts": 2, "connect_timeout": 2})
    start = time.monotonic()
    with pytest.raises(AWSConnectionError, match=rf"cannot reach {url}"):
        storage.get_object("b", "k")
    with pytest.raises(AWSConnectionError):
        storage.put_object("b", "k", b"v")
    assert time.monotonic() - start < 15


def test_executor_with_s3_down_fails_at_submit(lambda_server: Any, moto: MotoServer) -> None:
    from conftest import lambda_config

    config = lambda_config(moto.url, lambda_server.url, "b")
    config["aws_s3"].update(endpoint=f"http://127.0.0.1:{free_port()}", max_attempts=1)
    with lithops.FunctionExecutor(config=config, log_level=None) as fexec:
        with pytest.raises(lithops.errors.BackendError, match="cannot reach"):
            fexec.call_async(abs, -1)


def test_endpoint_from_boto3_environment_variable(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto.url)
    storage = S3Storage({"storage_bucket": "envbucket"})
    assert storage.endpoint == moto.url
    storage.create_bucket("envbucket")
    storage.put_object("envbucket", "k", b"through the env endpoint")
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    assert s3.get_object(Bucket="envbucket", Key="k")["Body"].read() == b"through the env endpoint"


def test_default_bucket_is_named_after_account_and_region(moto: MotoServer) -> None:
    # temporary credentials (SSO, assumed roles) rotate: the bucket must not follow the access key id
    sections = [{"endpoint": moto.url, "sts_endpoint": moto.url, "region": "eu-west-1", "access_key_id": key,
                 "secret_access_key": "s", "session_token": f"token-{key}"} for key in ("ASIAFIRST", "ASIASECOND")]
    bucket = S3Storage(sections[0]).default_bucket()
    assert bucket == "lithops-123456789012-eu-west-1"
    assert S3Storage(sections[1]).default_bucket() == bucket
    assert S3Storage({**sections[1], "region_name": "eu-west-1", "region": None,
                      "account_id": "123456789012"}).default_bucket() == bucket
    # an S3-compatible store has no STS: its static key names the bucket
    storage = S3Storage({"endpoint": moto.url, "region": "eu-west-1"})
    assert storage.default_bucket().startswith("lithops-eu-west-1-")
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="eu-west-1")
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"


def test_missing_bucket_and_key_errors(s3_section: dict[str, Any]) -> None:
    storage = S3Storage(s3_section)
    with pytest.raises(StorageNoSuchBucketError):
        storage.put_object("lithops-no-such-bucket-7", "k", b"v")
    with pytest.raises(StorageNoSuchBucketError):
        storage.list_keys("lithops-no-such-bucket-7")
    storage.create_bucket(s3_section["storage_bucket"])
    with pytest.raises(StorageNoSuchKeyError):
        storage.download_file(s3_section["storage_bucket"], "missing", "/tmp/lithops-never-written")


class _Chunks(io.RawIOBase):
    """A non-seekable stream of ``n`` chunks of 1 MiB, counting how much was read."""

    def __init__(self, n: int) -> None:
        self.left = n * 1024 * 1024
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b"z" * n
        self.left -= n
        self.read_bytes += n
        return n


def test_large_bodies_stream_in_parts(s3_section: dict[str, Any], moto: MotoServer) -> None:
    storage = S3Storage(dict(s3_section, multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20))
    bucket = s3_section["storage_bucket"]
    storage.create_bucket(bucket)
    stream = _Chunks(12)
    storage.put_object(bucket, "big/stream", io.BufferedReader(stream))  # type: ignore[arg-type]
    head = storage.head_object(bucket, "big/stream")
    assert head["content-length"] == str(12 * 2**20)
    assert head["etag"].strip('"').endswith("-3")  # three parts: a multipart upload
    data = os.urandom(11 * 2**20)
    storage.put_object(bucket, "big/bytes", data)
    assert storage.head_object(bucket, "big/bytes")["etag"].strip('"').endswith("-3")
    assert storage.get_object(bucket, "big/bytes", extra_get_args={"Range": "bytes=100-199"}) == data[100:200]


def test_storage_facade_and_cloudobjects(s3_section: dict[str, Any]) -> None:
    S3Storage(s3_section).create_bucket(s3_section["storage_bucket"])
    storage = lithops.Storage(config={"lithops": {"storage": "aws_s3"}, "aws_s3": s3_section})
    assert storage.backend == "aws_s3" and storage.bucket == s3_section["storage_bucket"]
    co = storage.put_cloudobject(b"payload")
    assert storage.get_cloudobject(co) == b"payload"
    assert storage.get_client().meta.service_model.service_name == "s3"
    key = f"k-{uuid.uuid4().hex}"
    storage.put_object(storage.bucket, key, "text")
    assert [o["Key"] for o in storage.list_objects(storage.bucket, "k-")] == [key]


def test_lithops3_key_names_are_accepted_or_warned_about(moto: MotoServer) -> None:
    import warnings

    from lithops_aws.aws_batch.backend import BatchBackend
    from lithops_aws.aws_lambda.backend import LambdaBackend

    lithops3 = {
        "lithops": {"backend": "aws_lambda", "storage": "aws_s3"},
        "aws": {"region_name": "eu-west-3", "account_id": "123456789012"},
        "aws_lambda": {"execution_role": "arn:aws:iam::123456789012:role/r", "runtime_memory": 3600,
                       "worker_processes": "AUTO", "namespace": "team",
                       "env_vars": [{"name": "STAGE", "value": "prod"}], "endpoint": moto.url,
                       "sts_endpoint": moto.url, "iam_endpoint": moto.url},
        "aws_s3": {"storage_bucket": "b", "endpoint": moto.url},
        "aws_batch": {"container_vcpus": 2, "runtime_memory": 4096, "worker_processes": "AUTO",
                      "region_name": "eu-south-1"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no key is unknown (ignored)
        config = default_config(lithops3)
        backend = LambdaBackend(config["aws_lambda"], config)
    assert backend.functions.region == "eu-west-3"
    variables = backend.functions.configuration("default-runtime-v311", 3600)["Environment"]["Variables"]
    assert variables["STAGE"] == "prod" and variables["LITHOPS_WORKER_PROCESSES"] == "3"  # 3600 MiB: 3 vCPUs
    assert backend.functions.prefix.startswith("team-lithops-worker-")
    batch_config = default_config({**lithops3, "lithops": {"backend": "aws_batch", "storage": "aws_s3"}})
    batch = BatchBackend(batch_config["aws_batch"], batch_config)
    assert batch.region == "eu-south-1" and batch.cpu == 2 and batch.worker_processes() == 2
    for key, advice in (("remote_invoker", "always invokes from the client"),
                        ("runtime_include_function", "uploaded to storage with each job")):
        config = default_config({**lithops3, "aws_lambda": {**lithops3["aws_lambda"], key: True}})
        with pytest.warns(UserWarning, match=rf"aws_lambda.{key} has no effect with lithops-aws: .*{advice}"):
            LambdaBackend(config["aws_lambda"], config)
    with pytest.raises(ConfigError, match=r"worker_processes is 'MANY'; it must be a number of at least 1 or AUTO"):
        default_config({**lithops3, "aws_lambda": {**lithops3["aws_lambda"], "worker_processes": "MANY"}})


def test_backends_built_from_a_dict_get_their_schema_defaults(s3_section: dict[str, Any], moto: MotoServer) -> None:
    """A section written by hand (a test, a contract suite) is filled and checked as the executor's is."""
    from lithops_aws.aws_ec2.backend import EC2Backend
    from lithops_aws.aws_lambda.backend import LambdaBackend

    storage = S3Storage(s3_section)
    assert (storage.config["max_attempts"], storage.config["max_pool_connections"]) == (5, 64)
    with pytest.raises(ConfigError, match=r"aws_s3\.read_timeout is 0; it must be at least 0\.1"):
        S3Storage({**s3_section, "read_timeout": 0})
    section = {"endpoint": moto.url, "region": "us-east-1"}
    backend = LambdaBackend(section, {})
    assert (backend.threads, backend.max_workers, backend.functions.config["runtime_timeout"]) == (64, 1000, 180)
    with pytest.raises(ConfigError, match=r"invoke_pool_threads is 0; it must be at least 1"):
        LambdaBackend({**section, "invoke_pool_threads": 0}, {})
    ec2 = EC2Backend(section, {})
    assert (ec2.max_workers, ec2.mode) == (1, "reuse")


def test_forward_keeps_the_size_a_head_answer_announces(s3_section: dict[str, Any], moto: MotoServer) -> None:
    """A HEAD answer has no body: its Content-Length (the object's size) is the only size a proxy can pass on."""
    from urllib.parse import urlsplit

    from lithops_aws.testing.moto_server import forward

    storage = S3Storage(s3_section)
    bucket = storage.default_bucket()
    storage.create_bucket(bucket)
    storage.put_object(bucket, "sized", b"x" * 1234)
    # moto reads the caller from the header (it checks no signature unless told to)
    owner = {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, "
                              "SignedHeaders=host, Signature=0"}
    status, headers, body = forward(urlsplit(moto.url), "HEAD", f"/{bucket}/sized", owner, b"")
    assert status == 200 and body == b""
    assert {k.lower(): v for k, v in headers.items()}.get("content-length") == "1234"
    status, headers, body = forward(urlsplit(moto.url), "GET", f"/{bucket}/sized", owner, b"")
    assert body == b"x" * 1234  # a GET's size is its body's: the proxy sends the length of what it sends
    assert "content-length" not in {k.lower() for k in headers}
