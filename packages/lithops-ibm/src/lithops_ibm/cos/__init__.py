"""The ``ibm_cos`` storage backend."""
