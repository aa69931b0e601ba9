"""The lithops-azure blob modules."""
