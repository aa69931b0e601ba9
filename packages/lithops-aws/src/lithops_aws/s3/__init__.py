"""The ``aws_s3`` storage backend."""
