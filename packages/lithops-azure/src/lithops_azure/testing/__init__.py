"""The lithops-azure testing modules."""
