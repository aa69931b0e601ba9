"""map, map_reduce and a data map on Alibaba Cloud Function Compute with OSS, with the same executor API as on this
machine.

On Alibaba Cloud (keys from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET or the aliyun section of
the Lithops config; the RAM role and policies are in docs/backends/aliyun.md):

    pip install ./packages/lithops-core ./packages/lithops-aliyun
    python examples/aliyun_fc_map.py --region cn-hangzhou --account-id 1234567890123456 \\
        --role-arn acs:ram::1234567890123456:role/lithops-fc-role \\
        --image registry.cn-hangzhou.aliyuncs.com/me/lithops-fc:1

(with a client Python that FC has a managed runtime of, 3.9, 3.10 or 3.12, leave --image out: the code zip runs on
FC's Python runtime). Without an account, against the local services the tests use (a local OSS and a local FC 3.0
API that runs the real handler in local processes):

    python examples/aliyun_fc_map.py --local
"""

import argparse
import contextlib
import os

import cloud_demo
import lithops

LOCAL_IMAGE = "registry.cn-hangzhou.aliyuncs.com/lithops-local/lithops-fc:1"


@contextlib.contextmanager
def local_services(region, account):
    keys = ("LTAIlocalexample", "local-secret")
    os.environ.update({"ALIBABA_CLOUD_ACCESS_KEY_ID": keys[0], "ALIBABA_CLOUD_ACCESS_KEY_SECRET": keys[1]})
    from lithops_aliyun.testing.fc_server import LocalFCServer
    from lithops_aliyun.testing.oss_server import LocalOSSServer

    fc = LocalFCServer({keys[0]: keys[1]}, account, region=region, images=(LOCAL_IMAGE,), instance_limit=4).start()
    try:
        with LocalOSSServer({keys[0]: keys[1]}, region=region) as oss:
            yield {"aliyun_fc": {"endpoint": fc.url}, "aliyun_oss": {"endpoint": oss.url}}
    finally:
        fc.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="cn-hangzhou")
    parser.add_argument("--account-id", default="1234567890123456")
    parser.add_argument("--role-arn", default=None, help="default: acs:ram::<account>:role/lithops-fc-role")
    parser.add_argument("--image", default=None, help="a custom-container image (else the managed Python runtime)")
    parser.add_argument("--bucket", default=None, help="default: lithops-<region>-<account id>, created")
    parser.add_argument("--local", action="store_true", help="use local services instead of Alibaba Cloud")
    args = parser.parse_args()
    image = LOCAL_IMAGE if args.local else args.image

    with local_services(args.region, args.account_id) if args.local else contextlib.nullcontext({}) as endpoints:
        config = {
            "lithops": {"backend": "aliyun_fc", "storage": "aliyun_oss"},
            "aliyun": {"region": args.region, "account_id": args.account_id},
            "aliyun_fc": {"role_arn": args.role_arn or f"acs:ram::{args.account_id}:role/lithops-fc-role",
                          "runtime_memory": 512, **endpoints.get("aliyun_fc", {}),
                          **({"deploy_mode": "custom-container", "runtime": image} if image else {})},
            "aliyun_oss": {**({"storage_bucket": args.bucket} if args.bucket else {}),
                           **endpoints.get("aliyun_oss", {})},
        }
        storage = lithops.Storage(config=config)
        prefix = cloud_demo.put_texts(storage, storage.bucket)
        with lithops.FunctionExecutor(config=config) as fexec:
            cloud_demo.run_demo(fexec, f"oss://{storage.bucket}/{prefix}")


if __name__ == "__main__":
    main()
