"""Lithops backends for Alibaba Cloud: ``aliyun_oss`` storage and ``aliyun_fc`` (Function Compute 3.0) compute."""

__version__ = "4.0.0.dev0"
