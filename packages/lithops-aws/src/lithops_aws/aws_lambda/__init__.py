"""The ``aws_lambda`` compute backend, its worker entry point and runtime builder."""
