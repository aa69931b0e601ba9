"""map, map_reduce and a data map on AWS Lambda with S3, with the same executor API as on this machine.

On AWS (credentials from boto3's usual chain: environment, ~/.aws, a profile or an instance role):

    pip install ./packages/lithops-core ./packages/lithops-aws
    python examples/aws_lambda_map.py --bucket my-lithops-bucket [--region eu-west-1]

Without an AWS account, against the local servers the tests use (moto's server and a local Lambda Invoke service
that runs the real handler; needs `pip install 'moto[server]'`):

    python examples/aws_lambda_map.py --local

The first run deploys the Lambda function of the default runtime (the client's Python version, no container
tool needed); see docs/backends/aws.md.
"""

import argparse
import contextlib
import os

import cloud_demo
import lithops


@contextlib.contextmanager
def local_servers():
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    from lithops_aws.testing.lambda_server import LocalLambdaServer
    from lithops_aws.testing.moto_server import MotoServer

    with MotoServer(subprocess=True) as moto, LocalLambdaServer(moto.url) as server:
        yield {"aws_lambda": {"endpoint": server.url, "iam_endpoint": moto.url, "sts_endpoint": moto.url},
               "aws_s3": {"endpoint": moto.url}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", default="lithops-example-bucket")
    parser.add_argument("--region", default=None)
    parser.add_argument("--local", action="store_true", help="use local servers instead of AWS")
    args = parser.parse_args()

    with local_servers() if args.local else contextlib.nullcontext({}) as endpoints:
        config = {
            "lithops": {"backend": "aws_lambda", "storage": "aws_s3"},
            "aws": {"region": args.region} if args.region else {},
            "aws_lambda": {"runtime_memory": 256, **endpoints.get("aws_lambda", {})},
            "aws_s3": {"storage_bucket": args.bucket, **endpoints.get("aws_s3", {})},
        }
        storage = lithops.Storage(config=config)
        storage.create_bucket(args.bucket)
        prefix = cloud_demo.put_texts(storage, args.bucket)
        with lithops.FunctionExecutor(config=config) as fexec:
            cloud_demo.run_demo(fexec, f"s3://{args.bucket}/{prefix}")


if __name__ == "__main__":
    main()
