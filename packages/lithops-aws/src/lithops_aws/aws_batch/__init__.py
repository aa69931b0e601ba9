"""The ``aws_batch`` compute backend (serverless mode)."""
