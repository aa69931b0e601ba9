"""The ``code_engine`` compute backend, its worker entry point and its runtime builder."""
