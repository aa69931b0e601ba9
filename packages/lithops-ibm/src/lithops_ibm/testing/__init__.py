"""Local stand-ins of IBM Cloud services for tests and benchmarks: an IAM token endpoint and the Code Engine API."""
