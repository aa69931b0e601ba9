"""Fails on import, like a plugin whose SDK is missing."""

import boto3_that_is_not_installed  # noqa: F401
