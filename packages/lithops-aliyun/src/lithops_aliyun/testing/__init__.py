"""testing of lithops-aliyun."""
