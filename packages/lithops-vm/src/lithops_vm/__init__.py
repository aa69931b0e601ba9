"""Lithops's ``vm`` compute backend: standalone mode on existing hosts over SSH."""
