"""Lithops backends for Microsoft Azure: Blob storage, Container Apps and Functions."""
