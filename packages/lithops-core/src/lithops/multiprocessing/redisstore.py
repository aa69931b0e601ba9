"""The Redis :class:`~lithops.multiprocessing.store.Store`, for workers that may run on other machines.

Needs the ``redis`` client (``pip install 'lithops-core[multiprocessing]'``) and one Redis server (not a
cluster: the atomic operations are Lua scripts that touch keys they derive). An ordered map ``k`` is a hash
``k`` plus a sorted set ``k#order`` (insertion order) and a counter ``k#seq``; :meth:`RedisStore.delete`
removes those with it.

Every pickle is signed with the descriptor's ``secret`` (see :meth:`Store.seal`), so objects that another client
of the server pushed are refused instead of unpickled. The descriptor must hold one.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

from lithops.errors import ConfigError
from lithops.multiprocessing.store import Store, StoreError, StoreUnavailableError

_ORDER, _SEQ = "#order", "#seq"
#: Retries of a command after a connection error (with a short backoff), before it fails.
RETRIES = 2

_RELEASE_TOKEN = """
local limit = tonumber(ARGV[1])
if limit > 0 and redis.call('LLEN', KEYS[1]) >= limit then return 0 end
redis.call('RPUSH', KEYS[1], '1')
return 1
"""

_WAKE = """
local n = tonumber(ARGV[1])
local woken = 0
while n < 0 or woken < n do
  local wid = redis.call('LPOP', KEYS[1])
  if not wid then break end
  redis.call('RPUSH', KEYS[1] .. ':' .. wid, ARGV[2])
  woken = woken + 1
end
return woken
"""

_PUSH_BOUNDED = """
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  return 1
end
if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[3]) end
return 0
"""

_LIST_REPLACE = """
local n = tonumber(ARGV[1])
if n >= 0 then
  local current = redis.call('LRANGE', KEYS[1], 0, -1)
  if #current ~= n then return 0 end
  for i = 1, n do
    if current[i] ~= ARGV[i + 1] then return 0 end
  end
end
redis.call('DEL', KEYS[1])
local first = math.max(n, 0) + 2
for i = first, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
"""

_MAP_SET = """
for i = 1, #ARGV, 2 do
  if redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[i])
  end
end
return 1
"""

_MAP_SETDEFAULT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
  return ARGV[2]
end
return redis.call('HGET', KEYS[1], ARGV[1])
"""

_MAP_POP = """
local field = ARGV[1]
if field == '' and ARGV[2] == 'last' then
  local last = redis.call('ZRANGE', KEYS[2], -1, -1)
  if #last == 0 then return false end
  field = last[1]
end
local value = redis.call('HGET', KEYS[1], field)
if value then
  redis.call('HDEL', KEYS[1], field)
  redis.call('ZREM', KEYS[2], field)
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
  return {field, value}
end
return false
"""


#: Redis servers (host, port) already warned about for having no password.
_warned: set[tuple[str, int]] = set()
_warned_lock = threading.Lock()


def warn_without_password(section: dict[str, Any]) -> None:
    """Warn once per server when the ``redis`` section has no password."""
    if section.get("password"):
        return
    server = (str(section.get("host")), int(section.get("port") or 0))
    with _warned_lock:
        if server in _warned:
            return
        _warned.add(server)
    warnings.warn(
        f"lithops.multiprocessing keeps shared state on the Redis server at {server[0]}:{server[1]}, which has no "
        f"password: anyone who can reach it can read and delete that state (values they write are refused, as "
        f"each one is signed). Set 'requirepass' on the server and 'password' in the 'redis' config section.",
        UserWarning,
        stacklevel=4,
    )


class RedisStore(Store):
    """A store on a Redis server named by a ``redis`` config section (host, port, password, db ...)."""

    kind = "redis"

    def __init__(self, descriptor: dict[str, Any]) -> None:
        super().__init__(descriptor)
        if self._secret is None:
            raise StoreError(
                "a Redis store descriptor needs a 'secret' (the hex key that signs values); descriptors made by "
                "lithops.multiprocessing have one."
            )
        try:
            import redis
            from redis.backoff import ExponentialBackoff
            from redis.retry import Retry
        except ImportError:
            raise ConfigError(
                "the config has a 'redis' section (or multiprocessing.store: redis), so lithops.multiprocessing "
                "keeps shared state in Redis, but the 'redis' package is not installed. Install it with "
                "pip install 'lithops-core[multiprocessing]', or remove the section to use the local store."
            ) from None
        self._redis_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._client: Any = redis.Redis(
            host=descriptor.get("host", "127.0.0.1"),
            port=int(descriptor.get("port", 6379)),
            db=int(descriptor.get("db", 0)),
            username=descriptor.get("username"),
            password=descriptor.get("password"),
            ssl=bool(descriptor.get("ssl", False)),
            socket_connect_timeout=descriptor.get("socket_connect_timeout", 10),
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), RETRIES),
        )
        try:
            self._client.ping()
        except self._redis_errors as exc:
            raise StoreUnavailableError(
                f"cannot reach the Redis server of lithops.multiprocessing at {descriptor.get('host')}:"
                f"{descriptor.get('port')} ({exc}). Start it, or fix the 'redis' config section."
            ) from exc
        register = self._client.register_script
        self._release_token = register(_RELEASE_TOKEN)
        self._wake = register(_WAKE)
        self._push_bounded = register(_PUSH_BOUNDED)
        self._list_replace = register(_LIST_REPLACE)
        self._map_set = register(_MAP_SET)
        self._map_setdefault = register(_MAP_SETDEFAULT)
        self._map_pop = register(_MAP_POP)

    @staticmethod
    def _map_keys(key: str) -> list[str]:
        return [key, key + _ORDER, key + _SEQ]

    # -- strings -------------------------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The string at ``key``, or None."""
        value: bytes | None = self._client.get(key)
        return value

    def set(self, key: str, value: bytes) -> None:
        """Store a string at ``key``."""
        self._client.set(key, value)

    def delete(self, *keys: str) -> int:
        """Delete keys of any type (an ordered map with its bookkeeping keys); return how many existed."""
        if not keys:
            return 0
        names = [name for key in keys for name in self._map_keys(key)]
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        pipe.delete(*names)
        results = pipe.execute()
        return int(sum(results[:-1]))

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds anything."""
        return bool(self._client.exists(key))

    def incr(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` to the integer at ``key`` and return the new value."""
        return int(self._client.incrby(key, amount))

    def getrange(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of the string at ``key``."""
        return bytes(self._client.getrange(key, start, end))

    def setrange(self, key: str, offset: int, value: bytes) -> None:
        """Overwrite the string at ``key`` from ``offset``."""
        self._client.setrange(key, offset, value)

    # -- lists -----------------------------------------------------------------------------------------------
    def rpush(self, key: str, *values: bytes) -> int:
        """Append to the list at ``key``; return its new length."""
        return int(self._client.rpush(key, *values))

    def lpush(self, key: str, *values: bytes) -> int:
        """Prepend to the list at ``key``; return its new length."""
        return int(self._client.lpush(key, *values))

    def lpop(self, key: str) -> bytes | None:
        """Remove and return the first element, or None."""
        value: bytes | None = self._client.lpop(key)
        return value

    def rpop(self, key: str) -> bytes | None:
        """Remove and return the last element, or None."""
        value: bytes | None = self._client.rpop(key)
        return value

    def blpop(self, key: str, timeout: float | None) -> bytes | None:
        """Remove and return the first element, waiting up to ``timeout`` seconds (None: for ever)."""
        if timeout is not None:
            timeout = max(timeout, 0.001)  # 0 would mean "for ever" to Redis
        result = self._client.blpop([key], timeout=0 if timeout is None else timeout)
        return None if result is None else bytes(result[1])

    def llen(self, key: str) -> int:
        """Length of the list at ``key``."""
        return int(self._client.llen(key))

    def lrange(self, key: str, start: int, stop: int) -> list[bytes]:
        """Elements ``start`` to ``stop`` inclusive."""
        return list(self._client.lrange(key, start, stop))

    def lindex(self, key: str, index: int) -> bytes | None:
        """The element at ``index``, or None if out of range."""
        value: bytes | None = self._client.lindex(key, index)
        return value

    def lset(self, key: str, index: int, value: bytes) -> bool:
        """Replace the element at ``index``; False if out of range."""
        import redis

        try:
            self._client.lset(key, index, value)
        except redis.exceptions.ResponseError:  # "index out of range" or "no such key"
            return False
        return True

    def list_replace(self, key: str, expected: list[bytes] | None, values: list[bytes]) -> bool:
        """Replace the whole list if it still equals ``expected`` (None: unconditionally)."""
        head = [-1] if expected is None else [len(expected), *expected]
        return bool(self._list_replace(keys=[key], args=[*head, *values]))

    def push_bounded(self, key: str, value: bytes, limit: int, waiters: str, wid: str) -> bool:
        """Append if the list holds fewer than ``limit`` elements; else register ``wid`` in ``waiters``."""
        return bool(self._push_bounded(keys=[key, waiters], args=[value, limit, wid]))

    # -- ordered maps ------------------------------------------------------------------------------------------
    def map_set(self, key: str, items: list[tuple[bytes, bytes]]) -> None:
        """Set fields (new ones last, replaced ones in place)."""
        if items:
            self._map_set(keys=self._map_keys(key), args=[part for item in items for part in item])

    def map_get(self, key: str, field: bytes) -> bytes | None:
        """The value of ``field``, or None."""
        value: bytes | None = self._client.hget(key, field)
        return value

    def map_setdefault(self, key: str, field: bytes, value: bytes) -> bytes:
        """Set ``field`` unless present; return its value."""
        return bytes(self._map_setdefault(keys=self._map_keys(key), args=[field, value]))

    def map_pop(self, key: str, field: bytes) -> bytes | None:
        """Remove ``field`` and return its value, or None."""
        result = self._map_pop(keys=self._map_keys(key), args=[field, "field"])
        return None if not result else bytes(result[1])

    def map_popitem(self, key: str) -> tuple[bytes, bytes] | None:
        """Remove and return the last inserted field and value, or None."""
        result = self._map_pop(keys=self._map_keys(key), args=["", "last"])
        return None if not result else (bytes(result[0]), bytes(result[1]))

    def map_items(self, key: str) -> list[tuple[bytes, bytes]]:
        """All fields and values in insertion order."""
        pipe = self._client.pipeline(transaction=True)
        pipe.zrange(key + _ORDER, 0, -1)
        pipe.hgetall(key)
        order, values = pipe.execute()
        return [(bytes(f), bytes(values[f])) for f in order if f in values]

    def map_len(self, key: str) -> int:
        """Number of fields."""
        return int(self._client.hlen(key))

    def map_contains(self, key: str, field: bytes) -> bool:
        """Whether ``field`` is set."""
        return bool(self._client.hexists(key, field))

    # -- waking blocked processes ------------------------------------------------------------------------
    def release_token(self, key: str, limit: int) -> bool:
        """Append a token unless the list already holds ``limit`` (0: no limit)."""
        return bool(self._release_token(keys=[key], args=[limit]))

    def wake(self, waiters: str, n: int, value: bytes) -> int:
        """Pop up to ``n`` (negative: all) waiter ids and push ``value`` to each one's list."""
        return int(self._wake(keys=[waiters], args=[n, value]))

    def remove_waiter(self, waiters: str, wid: str) -> bool:
        """Remove ``wid`` from ``waiters``; False if it was not there."""
        return bool(self._client.lrem(waiters, 1, wid))

    # -- administration ----------------------------------------------------------------------------------
    def keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``."""
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
        return [k.decode() if isinstance(k, bytes) else str(k) for k in self._client.scan_iter(match=pattern)]

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
