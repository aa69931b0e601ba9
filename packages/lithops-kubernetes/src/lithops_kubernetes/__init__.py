"""Lithops backends for Kubernetes: ``k8s`` (batch Jobs with indexed completions) and ``knative`` (Knative
Services invoked over HTTP).
"""

__version__ = "4.0.0.dev0"
