"""The ``gcp_compute_engine`` compute backend (standalone mode)."""
