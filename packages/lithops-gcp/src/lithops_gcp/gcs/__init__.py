"""``gcp_storage``: Google Cloud Storage."""
