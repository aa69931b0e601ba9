"""The ``lithops`` command line."""
