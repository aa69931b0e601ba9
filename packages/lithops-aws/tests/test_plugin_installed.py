from lithops.testing import PluginContract


class TestAWSPlugin(PluginContract):
    package = "lithops-aws"
    compute_backends = {"aws_lambda", "aws_batch", "aws_ec2"}
    storage_backends = {"aws_s3"}
