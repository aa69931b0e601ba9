"""Names and behaviours of Lithops 3.8.0's ``lithops.multiprocessing`` that code written for it relies on, and
shared objects created at module level in the main script (used by Pool tasks through the global)."""

import inspect
import multiprocessing
import subprocess
import sys
import textwrap

import pytest

import lithops.multiprocessing as mp
from lithops.errors import ConfigError
from lithops.multiprocessing.managers import SyncManager


def square(x):
    return x * x


def wait_on(cond, ready):
    with cond:
        ready.set()
        return cond.wait(timeout=30)


class Counter:
    def __init__(self, start=0):
        self.count = start

    def add(self, n=1):
        self.count += n
        return self.count

    def value(self):
        return self.count


def add_to(counter, n):
    for _ in range(n):
        counter.add()
    return counter.value()


def test_queues_carry_empty_and_full_and_simple_queue_takes_timeouts(store):
    q = mp.Queue(1)
    q.put("a")
    with pytest.raises(q.Full):
        q.put("b", timeout=0.05)
    assert q.get() == "a"
    with pytest.raises(q.Empty):
        q.get(timeout=0.05)
    sq = mp.SimpleQueue()
    sq.put(1, block=False, timeout=1)
    sq.put(2, True)
    assert sq.get(block=True, timeout=5) == 1 and sq.get(False) == 2
    with pytest.raises(sq.Empty):
        sq.get(timeout=0.05)
    with pytest.raises(mp.SimpleQueue.Empty):
        sq.get(block=False)


def test_condition_notify_all_takes_a_message(store):
    cond, ready = mp.Condition(), mp.Event()
    with mp.Pool(1) as pool:
        waiting = pool.apply_async(wait_on, (cond, ready))
        assert ready.wait(30)
        with cond:
            cond.notify_all("wake up")
        assert waiting.get(timeout=30) is True


def test_pipe_accepts_lithops_connection_types(store):
    for conn_type in ("redislist", "redispubsub"):
        a, b = mp.Pipe(conn_type=conn_type)
        a.send(conn_type)
        assert b.recv() == conn_type
    with pytest.raises(ConfigError, match="nanomq"):
        mp.Pipe(conn_type="nanomq")


def test_sync_manager_register_makes_shared_objects(store):
    assert list(inspect.signature(SyncManager.register).parameters) == [
        "typeid", "callable", "proxytype", "exposed", "method_to_typeid", "create_method", "can_manage"]
    SyncManager.register("Counter", Counter)
    with mp.Manager() as manager:
        counter = manager.Counter(10)
        with mp.Pool(2) as pool:
            pool.starmap(add_to, [(counter, 5)] * 4)
        assert counter.value() == 30 and counter._getvalue().count == 30
        assert counter.add(2) == 32
        with pytest.raises(AttributeError):
            getattr(counter, "count")  # noqa: B009 - attributes are not exposed, as with the standard library


def test_util_module_and_imap_chunksize_default():
    from lithops.multiprocessing import util

    assert util.get_logger() is multiprocessing.util.get_logger()
    assert len(util.get_uuid()) == 12 and util.Finalize is multiprocessing.util.Finalize
    for name in ("imap", "imap_unordered"):
        assert inspect.signature(getattr(mp.Pool, name)).parameters["chunksize"].default is None
    with mp.Pool(2) as pool:
        assert list(pool.imap(square, range(5))) == [0, 1, 4, 9, 16]
        assert sorted(pool.imap_unordered(square, range(5))) == [0, 1, 4, 9, 16]


MODULE_LEVEL_SCRIPT = textwrap.dedent("""
    import sys
    if sys.argv[1] == "lithops":
        import lithops.multiprocessing as mp
    else:
        import multiprocessing as mp
        mp.set_start_method("fork")

    barrier = mp.Barrier(2)
    lock = mp.Lock()
    event = mp.Event()
    counter = mp.Value("i", 0)
    results = mp.Queue()

    def task(i):
        barrier.wait(timeout=30)
        with lock:
            counter.value += 1
        results.put(i)
        if i == 1:
            event.set()
        return event.wait(30)

    if __name__ == "__main__":
        with mp.Pool(2) as pool:
            print(pool.map(task, range(4)))
        print(counter.value, sorted(results.get(timeout=10) for _ in range(4)), event.is_set())
""")


def test_sync_objects_created_at_module_level_work_in_pool_tasks(tmp_path):
    script = tmp_path / "module_level.py"
    script.write_text(MODULE_LEVEL_SCRIPT)
    outputs = []
    for which in ("stdlib", "lithops"):
        out = subprocess.run([sys.executable, str(script), which], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        outputs.append(out.stdout)
    assert outputs[0] == outputs[1] == "[True, True, True, True]\n4 [0, 1, 2, 3] True\n"


def test_lithops_module_names_are_present():
    import importlib

    from lithops.multiprocessing import config

    for name in ("DefaultContext", "allow_connection_pickling", "set_executable", "set_forkserver_preload",
                 "connection", "context", "errors", "managers", "pool", "process", "queues", "sharedctypes",
                 "synchronize", "util"):
        assert hasattr(mp, name) or importlib.import_module(f"lithops.multiprocessing.{name}"), name
    from lithops.multiprocessing import errors, managers, synchronize

    assert errors.TimeoutError is multiprocessing.TimeoutError
    assert managers.ArrayProxy is type(mp.Manager().Array("i", [1]))
    assert issubclass(synchronize.Lock, synchronize.SemLock)
    config.update({config.ENV_VARS: {"A": "1"}}, STREAM_STDOUT=True)
    assert config.get_parameter(config.ENV_VARS) == {"A": "1"} and config.get_parameter(config.STREAM_STDOUT)
    with pytest.raises(ConfigError):
        config.update(NOPE=1)
    mp.allow_connection_pickling()
    mp.set_executable(sys.executable)
    mp.set_forkserver_preload([])
