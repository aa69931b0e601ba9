"""Lithops backends for Google Cloud: Cloud Storage, Cloud Run and Cloud Functions."""

__version__ = "4.0.0.dev0"
