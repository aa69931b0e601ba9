"""The ``aws_ec2`` compute backend (standalone mode)."""
