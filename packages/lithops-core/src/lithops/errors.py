"""Every error Lithops raises on purpose, under one base class.

Each message says what went wrong and ends with what to do about it.
"""

from __future__ import annotations


class LithopsError(Exception):
    """Base class of the errors raised by Lithops itself."""


class ConfigError(LithopsError, ValueError):
    """The configuration is missing, unreadable or holds a bad value."""


class SerializationError(LithopsError, TypeError):
    """A function, argument or result cannot be serialized."""


class PayloadTooLargeError(LithopsError, ValueError):
    """A call's input data or result is over the configured size limit."""


class WorkerDiedError(LithopsError):
    """The process running a call ended before the call finished (killed, out of memory, crashed)."""


class FunctionTimeoutError(LithopsError, TimeoutError):
    """A call ran longer than its execution timeout and was stopped."""


class WaitTimeoutError(LithopsError, TimeoutError):
    """``wait``/``get_result`` gave up before the futures finished; the futures keep running."""


class JobCancelledError(LithopsError):
    """The call was cancelled before it finished (Ctrl-C while waiting, ``clean(force=True)``)."""


class PartitionError(LithopsError, ValueError):
    """A data-map input cannot be split into chunks; raised before any call runs."""


class ProtocolMismatchError(LithopsError):
    """The worker and the client speak different job protocol versions (docs/protocol.md)."""


class BackendError(LithopsError):
    """A backend failed to submit or run work; the message says which and why."""


class PrivateFolderError(LithopsError, PermissionError):
    """A folder where Lithops keeps local state or stored objects is not private to this user (another owner,
    writable by others, or reached through a folder another user controls); the message names it and the fix.
    """


class PluginError(LithopsError):
    """Base class of the errors about finding and loading backend plugins."""


class BackendNotInstalledError(PluginError):
    """A known backend was asked for, but the package that provides it is not installed."""


class BackendNotFoundError(PluginError):
    """A backend name that no installed or known package provides."""


class PluginLoadError(PluginError):
    """An installed plugin package failed to import or to register its backends."""


class PluginConflictError(PluginError):
    """Two installed packages register a backend under the same name."""
