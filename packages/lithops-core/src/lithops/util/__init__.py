"""Integrations of Lithops with other libraries (``lithops.util.joblib``)."""
