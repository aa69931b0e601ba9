"""Helpers for testing AWS backends on one machine: a moto server and a local Lambda invoke service."""
