"""fc of lithops-aliyun."""
