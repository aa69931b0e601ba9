"""The lithops-azure functions modules."""
