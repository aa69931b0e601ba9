"""Settings of ``lithops.multiprocessing``: ``config.set_parameter(config.LITHOPS_CONFIG, {...})`` as in Lithops.

The Lithops config itself (the dict given as ``LITHOPS_CONFIG``, else the discovered config file) picks the
compute backend and, through two optional sections, where shared state lives:

* ``multiprocessing``: ``store`` is ``auto`` (default: Redis when a ``redis`` section exists, else the local
  store on localhost backends), ``local`` or ``redis``.
* ``redis``: ``host``, ``port``, ``password``, ``username``, ``db``, ``ssl``, ``socket_connect_timeout``.
"""

from __future__ import annotations

import copy
from typing import Any

from lithops.errors import ConfigError
from lithops.plugins.specs import ConfigKey

#: A Lithops config dict used by every executor lithops.multiprocessing creates (empty: discover the config).
LITHOPS_CONFIG = "LITHOPS_CONFIG"
#: Accepted for compatibility: on localhost, workers already write to the driver's stdout and stderr.
STREAM_STDOUT = "STREAM_STDOUT"
#: Accepted for compatibility: keys are deleted by their owner instead of expiring (see docs/multiprocessing.md).
REDIS_EXPIRY_TIME = "REDIS_EXPIRY_TIME"
#: How Pipe connections are carried: every type Lithops offers over Redis (``redislist``, ``redispubsub``) is
#: carried by store lists here.
PIPE_CONNECTION_TYPE = "PIPE_CONNECTION_TYPE"
#: The accepted values of :data:`PIPE_CONNECTION_TYPE` (and of ``Pipe(conn_type=...)``).
PIPE_CONNECTION_TYPES = ("redislist", "redispubsub")
#: Environment variables set in every worker that runs a Pool task or a Process.
ENV_VARS = "ENV_VARS"
#: Accepted for compatibility; no execution details are exported.
EXPORT_EXECUTION_DETAILS = "EXPORT_EXECUTION_DETAILS"

_DEFAULTS: dict[str, Any] = {
    LITHOPS_CONFIG: {},
    STREAM_STDOUT: False,
    REDIS_EXPIRY_TIME: 300,
    PIPE_CONNECTION_TYPE: "redislist",
    ENV_VARS: {},
    EXPORT_EXECUTION_DETAILS: None,
}
_CHECKS: dict[str, tuple[tuple[type, ...], str]] = {
    LITHOPS_CONFIG: ((dict,), "a Lithops config dict such as {'lithops': {'backend': 'localhost'}}"),
    STREAM_STDOUT: ((bool,), "true or false"),
    REDIS_EXPIRY_TIME: ((int, float, type(None)), "a number of seconds"),
    PIPE_CONNECTION_TYPE: ((str,), "'redislist' or 'redispubsub'"),
    ENV_VARS: ((dict,), "a dict of environment variable names to values"),
    EXPORT_EXECUTION_DETAILS: ((str, type(None)), "a folder name or None"),
}

_parameters: dict[str, Any] = copy.deepcopy(_DEFAULTS)

#: Schema of the ``multiprocessing`` section of the Lithops config.
MULTIPROCESSING_SECTION: dict[str, ConfigKey] = {
    "store": ConfigKey(type=str, default="auto", choices=("auto", "local", "redis"),
                       doc="where shared state lives: auto (redis if a redis section exists, else local on "
                           "localhost backends), local (a server in the driver), redis"),
}

#: Schema of the ``redis`` section of the Lithops config.
REDIS_SECTION: dict[str, ConfigKey] = {
    "host": ConfigKey(type=str, default="127.0.0.1", doc="Redis server host name or address"),
    "port": ConfigKey(type=int, default=6379, minimum=1, doc="Redis server port"),
    "password": ConfigKey(type=(str, type(None)), default=None, secret=True, doc="Redis password (AUTH)"),
    "username": ConfigKey(type=(str, type(None)), default=None, doc="Redis ACL user name"),
    "db": ConfigKey(type=int, default=0, minimum=0, doc="Redis database number"),
    "ssl": ConfigKey(type=bool, default=False, doc="connect with TLS"),
    "socket_connect_timeout": ConfigKey(type=(int, float), default=10, minimum=0.1,
                                        doc="seconds to wait for a connection to the Redis server"),
}


def set_parameter(key: str, value: Any) -> None:
    """Set one parameter (``LITHOPS_CONFIG``, ``ENV_VARS`` ...); later Pools, Processes and objects use it."""
    if key not in _DEFAULTS:
        raise ConfigError(
            f"unknown lithops.multiprocessing parameter {key!r}; the parameters are {', '.join(_DEFAULTS)}."
        )
    types, expected = _CHECKS[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ConfigError(f"lithops.multiprocessing parameter {key} must be {expected}, got {value!r}.")
    if key == PIPE_CONNECTION_TYPE:
        check_pipe_connection_type(value)
    _parameters[key] = copy.deepcopy(value)


def check_pipe_connection_type(value: Any) -> None:
    """ConfigError unless ``value`` is a connection type Pipes can use."""
    if value not in PIPE_CONNECTION_TYPES:
        raise ConfigError(
            f"pipe connection type {value!r} is not supported; use 'redislist' or 'redispubsub' (both are carried "
            f"by the lithops.multiprocessing store; 'nanomq' needs open ports between workers and is not offered)."
        )


def update(config_dic: dict[str, Any] | None = None, **configurations: Any) -> None:
    """Set several parameters at once (a dict and/or keywords), each checked as by :func:`set_parameter`."""
    for key, value in {**(config_dic or {}), **configurations}.items():
        set_parameter(key, value)


def get_parameter(key: str) -> Any:
    """The current value of a parameter."""
    if key not in _parameters:
        raise ConfigError(
            f"unknown lithops.multiprocessing parameter {key!r}; the parameters are {', '.join(_DEFAULTS)}."
        )
    return copy.deepcopy(_parameters[key])


def reset() -> None:
    """Restore every parameter to its default."""
    _parameters.clear()
    _parameters.update(copy.deepcopy(_DEFAULTS))
