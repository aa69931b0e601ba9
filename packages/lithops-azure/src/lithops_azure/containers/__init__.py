"""The lithops-azure containers modules."""
