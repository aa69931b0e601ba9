"""``gcp_cloudrun``: Cloud Run services."""
