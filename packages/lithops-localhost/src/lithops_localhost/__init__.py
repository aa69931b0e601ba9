"""Lithops backends for this machine: ``localhost`` compute (warm process pool) and storage (folders)."""
