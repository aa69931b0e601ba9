"""``gcp_functions``: Cloud Functions (2nd gen)."""
