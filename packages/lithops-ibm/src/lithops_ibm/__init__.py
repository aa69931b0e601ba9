"""Lithops backends for IBM Cloud: ``ibm_cos`` storage and ``code_engine`` compute (with its runtime builder).

Importing this package (or its ``plugin`` module) imports no IBM or AWS SDK: they are loaded only when a backend
is used.
"""

__version__ = "4.0.0.dev0"
