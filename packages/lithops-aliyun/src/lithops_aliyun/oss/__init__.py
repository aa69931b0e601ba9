"""oss of lithops-aliyun."""
