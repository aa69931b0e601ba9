"""Lithops backends for Amazon Web Services: ``aws_s3`` storage, ``aws_lambda`` and ``aws_batch`` compute,
``aws_ec2`` standalone, and the Lambda runtime builder.

Importing this package (or its ``plugin`` module) imports no AWS SDK: boto3 is loaded only when a backend is
used.
"""

__version__ = "4.0.0.dev0"
