"""Calls sys.exit() while being imported, like a plugin module with a stray command-line entry point."""

import sys

sys.exit("exiting_plugin refuses to load")
