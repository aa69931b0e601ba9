"""The store operations behave the same on every implementation: in memory, the local server over its socket,
and a real Redis server.
"""

import subprocess
import sys
import threading
import time
import uuid

import pytest

from lithops.multiprocessing.localstore import LocalStoreClient, LocalStoreServer
from lithops.multiprocessing.memory import MemoryStore


@pytest.fixture(params=["memory", "local", "redis"])
def any_store(request):
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "local":
        server = LocalStoreServer()
        client = LocalStoreClient(server.descriptor())  # the socket client, even in this process
        yield client
        client.close()
        server.close()
    else:
        from lithops.multiprocessing.redisstore import RedisStore

        store = RedisStore({"kind": "redis", **request.getfixturevalue("redis_server"), "secret": "00" * 32})
        yield store
        store.close()


@pytest.fixture
def key():
    return f"lithops:mp:test:{uuid.uuid4().hex}"


def test_strings(any_store, key):
    s = any_store
    assert s.get(key) is None and not s.exists(key)
    s.set(key, b"abc")
    assert s.get(key) == b"abc" and s.exists(key)
    assert s.getrange(key, 1, 2) == b"bc"
    s.setrange(key, 5, b"xy")
    assert s.get(key) == b"abc\x00\x00xy"
    assert s.incr(key + ":n") == 1 and s.incr(key + ":n", 5) == 6 and s.incr(key + ":n", -7) == -1
    assert s.delete(key, key + ":n", key + ":absent") == 2
    assert not s.exists(key)


def test_lists(any_store, key):
    s = any_store
    assert s.rpush(key, b"b", b"c") == 2
    assert s.lpush(key, b"a") == 3
    assert s.lrange(key, 0, -1) == [b"a", b"b", b"c"]
    assert s.lrange(key, -2, -1) == [b"b", b"c"]
    assert s.lindex(key, -1) == b"c" and s.lindex(key, 3) is None
    assert s.lset(key, 1, b"B") and not s.lset(key, 5, b"x")
    assert s.llen(key) == 3
    assert s.lpop(key) == b"a" and s.rpop(key) == b"c" and s.lpop(key) == b"B"
    assert s.lpop(key) is None and not s.exists(key)  # an emptied list is gone
    assert not s.lset(key, 0, b"x")


def test_list_replace_is_a_compare_and_swap(any_store, key):
    s = any_store
    s.rpush(key, b"1", b"2")
    assert not s.list_replace(key, [b"1"], [b"x"])
    assert s.list_replace(key, [b"1", b"2"], [b"2", b"1", b"0"])
    assert s.lrange(key, 0, -1) == [b"2", b"1", b"0"]
    assert s.list_replace(key, None, [])
    assert not s.exists(key)
    assert s.list_replace(key, [], [b"new"]) and s.lrange(key, 0, -1) == [b"new"]


def test_blocking_pop_times_out_and_wakes_at_once(any_store, key):
    s = any_store
    start = time.monotonic()
    assert s.blpop(key, 0.2) is None
    assert 0.15 < time.monotonic() - start < 2
    assert s.pop_wait(key, 0) is None
    pusher = threading.Timer(0.2, lambda: s.rpush(key, b"v") if not isinstance(s, LocalStoreClient) else _push(s, key))
    pusher.start()
    start = time.monotonic()
    assert s.pop_wait(key, None) == b"v"
    assert time.monotonic() - start < 1.0
    pusher.join(10)  # done before the store is closed


def _push(client, key):
    other = LocalStoreClient(client.descriptor)  # the waiting thread's connection is busy
    other.rpush(key, b"v")
    other.close()


def test_ordered_map(any_store, key):
    s = any_store
    s.map_set(key, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])
    s.map_set(key, [(b"a", b"10")])  # a replaced key keeps its place
    assert s.map_items(key) == [(b"a", b"10"), (b"b", b"2"), (b"c", b"3")]
    assert s.map_pop(key, b"a") == b"10" and s.map_pop(key, b"a") is None
    s.map_set(key, [(b"a", b"again")])  # re-added: now last
    assert [k for k, _ in s.map_items(key)] == [b"b", b"c", b"a"]
    assert s.map_setdefault(key, b"b", b"x") == b"2" and s.map_setdefault(key, b"d", b"4") == b"4"
    assert s.map_popitem(key) == (b"d", b"4")
    assert s.map_get(key, b"c") == b"3" and s.map_get(key, b"zz") is None
    assert s.map_len(key) == 3 and s.map_contains(key, b"b") and not s.map_contains(key, b"d")
    for field in (b"a", b"b", b"c"):
        s.map_pop(key, field)
    assert s.map_popitem(key) is None and s.map_items(key) == [] and not s.exists(key)
    s.map_set(key, [(b"z", b"1")])
    assert s.delete(key) == 1 and s.map_items(key) == []


def test_tokens_waiters_and_wake(any_store, key):
    s = any_store
    assert s.release_token(key, 1) and not s.release_token(key, 1)
    assert s.release_token(key, 0) and s.llen(key) == 2
    waiters = key + ":w"
    assert not s.push_bounded(key, b"item", 2, waiters, "w1")  # full: w1 registered
    assert not s.push_bounded(key, b"item", 2, waiters, "")  # full, not registered
    s.rpush(waiters, b"w2")
    assert s.lrange(waiters, 0, -1) == [b"w1", b"w2"]
    assert s.remove_waiter(waiters, "w2") and not s.remove_waiter(waiters, "w2")
    assert s.wake(waiters, 5, b"go") == 1
    assert s.lpop(waiters + ":w1") == b"go" and not s.remove_waiter(waiters, "w1")
    s.delete(key)
    assert s.push_bounded(key, b"item", 1, waiters, "w3") and s.lrange(key, 0, -1) == [b"item"]
    for wid in (b"a", b"b", b"c"):
        s.rpush(waiters, wid)
    assert s.wake(waiters, -1, b"all") == 3
    assert [s.lpop(f"{waiters}:{w}") for w in "abc"] == [b"all"] * 3


def test_keys_by_prefix(any_store, key):
    s = any_store
    s.set(key + ":a", b"1")
    s.rpush(key + ":b", b"1")
    assert sorted(s.keys(key)) == [key + ":a", key + ":b"]
    s.delete(key + ":a", key + ":b")
    assert s.keys(key) == []


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_killed_waiter_does_not_swallow_the_next_item(kind, request, key):
    """A process killed while blocked in a pop must not take the item pushed after it died."""
    if kind == "local":
        server = LocalStoreServer()
        request.addfinalizer(server.close)
        descriptor, store = server.descriptor(), server.memory
    else:
        from lithops.multiprocessing.redisstore import RedisStore

        descriptor = {"kind": "redis", **request.getfixturevalue("redis_server"), "secret": "00" * 32}
        store = RedisStore(descriptor)
        request.addfinalizer(store.close)
    code = (
        "import sys, json; from lithops.multiprocessing.stores import connect; "
        f"s = connect(json.loads(sys.argv[1])); print('waiting', flush=True); s.blpop({key!r}, None)"
    )
    import json

    waiter = subprocess.Popen([sys.executable, "-c", code, json.dumps(descriptor)], stdout=subprocess.PIPE, text=True)
    assert waiter.stdout.readline().strip() == "waiting"
    time.sleep(0.3)  # let it block
    waiter.kill()
    waiter.wait()
    time.sleep(0.1)
    store.rpush(key, b"item")
    assert store.pop_wait(key, 5) == b"item"


def test_an_idle_connection_does_not_stall_the_local_store(tmp_path):
    """An idle TCP connection (any local user can open one) must neither block other clients nor stay open."""
    script = tmp_path / "idle.py"
    script.write_text(
        "import socket, sys, time\n"
        "import lithops.multiprocessing as mp\n"
        "from lithops.multiprocessing.localstore import local_server\n"
        "def put_three(q):\n"
        "    for i in range(3):\n"
        "        q.put(i)\n"
        "if __name__ == '__main__':\n"
        "    q = mp.Queue()\n"
        "    idle = socket.create_connection(tuple(local_server().address))\n"
        "    start = time.monotonic()\n"
        "    with mp.Pool(2) as pool:\n"
        "        pool.apply_async(put_three, (q,)).get(timeout=30)\n"
        "    print([q.get(timeout=5) for _ in range(3)], 'in', round(time.monotonic() - start, 1), flush=True)\n"
        "    idle.settimeout(20)\n"
        "    start = time.monotonic()\n"
        "    while idle.recv(4096):\n"
        "        pass\n"
        "    print('idle closed after', round(time.monotonic() - start, 1), flush=True)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = out.stdout.splitlines()
    assert first.startswith("[0, 1, 2] in ")
    assert float(first.split()[-1]) < 20
    assert second.startswith("idle closed after") and float(second.split()[-1]) < 15


class _TouchOnLoad:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_the_local_store_unpickles_nothing_from_unauthenticated_clients(tmp_path):
    import pickle
    import socket
    import struct

    server = LocalStoreServer()
    marker = tmp_path / "ran"
    try:
        with socket.create_connection(tuple(server.address), timeout=10) as raw:
            raw.recv(4096)  # the server's challenge
            payload = pickle.dumps(("set", (_TouchOnLoad(str(marker)),)))
            for _ in range(2):  # as the answer to the challenge, then as a request
                try:
                    raw.sendall(struct.pack("!i", len(payload)) + payload)
                except OSError:
                    break
            raw.settimeout(10)
            while True:
                try:
                    if not raw.recv(4096):
                        break
                except OSError:
                    break
        assert not marker.exists()
        client = LocalStoreClient(server.descriptor())
        client.set("k", b"v")  # authenticated clients are served as before
        assert client.get("k") == b"v"
        client.close()
    finally:
        server.close()


def test_store_is_an_abstract_base_class_with_its_factory_apart() -> None:
    """A store that leaves an operation out cannot be made; the factory lives outside the base class's module."""
    import lithops.multiprocessing.store as store_module
    from lithops.multiprocessing.store import Store

    class Partial(Store):
        def get(self, key: str) -> bytes | None:
            return None

    with pytest.raises(TypeError, match="abstract"):
        Partial({})
    assert not hasattr(store_module, "connect")
