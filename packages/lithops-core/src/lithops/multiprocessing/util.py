"""``lithops.multiprocessing.util``: the helpers user code imports from ``multiprocessing.util`` (logging,
``Finalize``, ``is_exiting`` ...), which are the standard library's, plus the ones Lithops's module offers
(``get_uuid``, ``get_network_ip``, ``get_redis_client``).
"""

from __future__ import annotations

import socket
import uuid
from multiprocessing.util import (
    DEFAULT_LOGGING_FORMAT,
    LOGGER_NAME,
    Finalize,
    debug,
    get_logger,
    info,
    is_exiting,
    log_to_stderr,
    register_after_fork,
    sub_debug,
    sub_warning,
)
from typing import Any

from lithops.errors import ConfigError

__all__ = [
    "DEFAULT_LOGGING_FORMAT",
    "LOGGER_NAME",
    "Finalize",
    "debug",
    "get_logger",
    "get_network_ip",
    "get_redis_client",
    "get_uuid",
    "info",
    "is_exiting",
    "log_to_stderr",
    "register_after_fork",
    "sub_debug",
    "sub_warning",
]


def get_uuid(length: int = 12) -> str:
    """A random hexadecimal id of ``length`` characters (at most 32)."""
    return uuid.uuid4().hex[:length]


def get_network_ip() -> str:
    """The address of this machine on its default network (127.0.0.1 when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def get_redis_client(**overrides: Any) -> Any:
    """A ``redis.Redis`` client of the Redis server lithops.multiprocessing uses (``overrides`` replace
    connection settings); ConfigError when shared state is kept in the local store.
    """
    from lithops.multiprocessing.context import get_runtime

    descriptor = get_runtime().descriptor
    if descriptor.get("kind") != "redis":
        raise ConfigError(
            "lithops.multiprocessing keeps shared state in its local store, not in Redis: add a 'redis' section to "
            "the config to use a Redis server."
        )
    import redis

    settings: dict[str, Any] = {k: descriptor[k] for k in ("host", "port", "db", "username", "password", "ssl",
                                           "socket_connect_timeout") if k in descriptor}
    settings.update(overrides)
    return redis.Redis(**settings)
