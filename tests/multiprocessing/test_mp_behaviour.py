"""Behaviour of lithops.multiprocessing beyond the documentation examples, on both stores (``store`` fixture)."""

import gc
import multiprocessing
import os
import pickle
import queue
import signal
import time

import pytest

import lithops.multiprocessing as mp
from lithops.errors import ConfigError, JobCancelledError, WorkerDiedError
from lithops.multiprocessing import config as mp_config
from lithops.multiprocessing.context import current_store
from lithops.multiprocessing.store import KEY_PREFIX, StoreUnavailableError, _session


def square(x):
    return x * x


def sleep_then(seconds, value=None):
    time.sleep(seconds)
    return value


def hard_exit():
    os._exit(3)


def make_queue_in_worker(n):
    q = mp.Queue()
    for i in range(n):
        q.put(i)
    lock = mp.Lock()
    with lock:
        return [q.get(timeout=5) for _ in range(n)], q._key, q._store.descriptor


def write_later(value, seconds):
    time.sleep(seconds)
    value.value = 5
    return value.value


def read_env(name):
    return os.environ.get(name)


def put_many(q, n):
    for i in range(n):
        q.put(i)


def release_after(lock, seconds):
    time.sleep(seconds)
    lock.release()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def my_keys():
    return set(current_store().keys(f"{KEY_PREFIX}:{_session()}:"))


def test_objects_delete_their_keys_when_collected(store):
    gc.collect()
    before = my_keys()
    objects = [mp.Queue(), mp.JoinableQueue(2), mp.Lock(), mp.RLock(), mp.Semaphore(3), mp.Event(), mp.Condition(),
               mp.Barrier(2), mp.Value("i", 1), mp.Array("d", 4), *mp.Pipe()]
    objects[0].put("x")
    objects[1].put("y")
    objects[5].set()
    objects[10].send("z")
    assert my_keys() - before
    del objects
    gc.collect()
    assert my_keys() - before == set()


def test_manager_shutdown_deletes_its_objects(store):
    gc.collect()
    before = my_keys()
    manager = mp.Manager()
    d, lst, ns = manager.dict(a=1), manager.list([1, 2]), manager.Namespace(x=1)
    q = manager.Queue()
    q.put(1)
    assert my_keys() - before
    manager.shutdown()
    assert my_keys() - before == set()
    assert len(d) == 0 and len(lst) == 0 and str(ns) == "Namespace()"
    with pytest.raises(RuntimeError):
        manager.dict()


def test_workers_create_shared_objects_in_the_drivers_store(store):
    with mp.Pool(2) as pool:
        items, key, descriptor = pool.apply(make_queue_in_worker, (3,))
    assert items == [0, 1, 2]
    assert descriptor == current_store().descriptor  # the driver's store, found through the worker's environment
    assert key.split(":")[2] != _session()  # named by the worker


def test_shared_arguments_live_until_the_task_is_done(store):
    with mp.Pool(2) as pool:
        result = pool.apply_async(write_later, (mp.Value("i", 0), 0.3))  # no other reference to the Value
        gc.collect()
        assert result.get(timeout=30) == 5


def test_env_vars_parameter_reaches_the_workers(store):
    mp_config.set_parameter(mp_config.ENV_VARS, {"MP_TEST_VAR": "hello"})
    with mp.Pool(2) as pool:
        assert pool.apply(read_env, ("MP_TEST_VAR",)) == "hello"
    p = mp.Process(target=read_env, args=("MP_TEST_VAR",))
    p.start()
    p.join()
    assert p.exitcode == 0


def test_async_result_timeouts_and_readiness(store):
    with mp.Pool(2) as pool:
        result = pool.apply_async(sleep_then, (1.0, "done"))
        with pytest.raises(ValueError):
            result.successful()
        with pytest.raises(multiprocessing.TimeoutError):
            result.get(timeout=0.05)
        result.wait(0.01)
        assert not result.ready()
        assert result.get(timeout=30) == "done" and result.successful()


def test_terminate_cancels_unfinished_tasks(store):
    pool = mp.Pool(2)
    slow = pool.apply_async(sleep_then, (30,))
    quick = pool.apply_async(square, (3,))
    assert quick.get(timeout=30) == 9
    start = time.monotonic()
    pool.terminate()
    pool.join()
    with pytest.raises(JobCancelledError):
        slow.get(timeout=10)
    assert time.monotonic() - start < 10
    with pytest.raises(ValueError, match="Pool not running"):
        pool.map(square, [1])


def test_a_worker_dying_fails_its_task_instead_of_hanging(store):
    with mp.Pool(2) as pool:
        with pytest.raises(WorkerDiedError):
            pool.apply_async(hard_exit).get(timeout=60)
        assert pool.map(square, range(5)) == [0, 1, 4, 9, 16]


def test_pools_cannot_be_pickled(store):
    with mp.Pool(1) as pool, pytest.raises(NotImplementedError):
        pickle.dumps(pool)


def test_remote_exceptions_keep_their_type_and_traceback(store):
    with mp.Pool(2) as pool:
        with pytest.raises(ZeroDivisionError) as info:
            pool.apply(divmod, (1, 0))
        assert info.value.__cause__ is not None  # the worker's traceback


def test_imap_unordered_yields_every_result(store):
    with mp.Pool(2) as pool:
        assert sorted(pool.imap_unordered(square, range(50), chunksize=4)) == [x * x for x in range(50)]
        assert list(pool.imap(square, range(50), chunksize=7)) == [x * x for x in range(50)]


def test_killed_processes_have_nonzero_exit_codes(store):
    crashing = mp.Process(target=hard_exit)
    crashing.start()
    crashing.join()
    assert crashing.exitcode not in (0, None)
    sleeper = mp.Process(target=sleep_then, args=(30,))
    sleeper.start()
    assert sleeper.pid not in (None, os.getpid())
    sleeper.join(0.1)
    assert sleeper.is_alive() and sleeper.exitcode is None
    sleeper.kill()
    sleeper.join(10)
    assert sleeper.exitcode == -signal.SIGKILL
    assert mp.active_children() == []
    sleeper.close()
    with pytest.raises(ValueError):
        sleeper.start()


def test_blocking_operations_wake_without_delay(store):
    q = mp.Queue(2)
    producer = mp.Process(target=put_many, args=(q, 6))
    producer.start()
    got = [q.get(timeout=30) for _ in range(6)]  # the producer blocks on the full queue five times
    producer.join()
    assert got == list(range(6)) and producer.exitcode == 0
    lock = mp.Lock()
    lock.acquire()
    releaser = mp.Process(target=release_after, args=(lock, 0.5))
    releaser.start()
    start = time.monotonic()
    assert lock.acquire(timeout=30)
    assert time.monotonic() - start < 5
    releaser.join()


def test_get_context_and_cpu_count(store):
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        assert pool.map(square, [3]) == [9]
    assert ctx.Queue is mp.Queue and ctx.get_start_method() == "spawn"
    with pytest.raises(ValueError):
        mp.get_context("teleport")
    assert mp.cpu_count() == os.cpu_count()


def test_queue_get_timeout_raises_empty_promptly(store):
    q = mp.Queue()
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.3)
    assert 0.25 < time.monotonic() - start < 3
    q.close()
    with pytest.raises(ValueError):
        q.put(1)


# -- configuration -----------------------------------------------------------------------------------------------


def test_set_parameter_checks_names_and_values():
    with pytest.raises(ConfigError, match=r"unknown lithops\.multiprocessing parameter"):
        mp_config.set_parameter("NOPE", 1)
    with pytest.raises(ConfigError, match="LITHOPS_CONFIG must be"):
        mp_config.set_parameter(mp_config.LITHOPS_CONFIG, "localhost")
    with pytest.raises(ConfigError, match="redislist"):
        mp_config.set_parameter(mp_config.PIPE_CONNECTION_TYPE, "nanomq")
    mp_config.set_parameter(mp_config.STREAM_STDOUT, True)
    assert mp_config.get_parameter(mp_config.STREAM_STDOUT) is True


def test_bad_redis_and_multiprocessing_sections_are_config_errors():
    mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {"redis": {"host": "127.0.0.1", "port": "six"}})
    with pytest.raises(ConfigError, match=r"redis\.port"):
        mp.Queue()
    mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {"multiprocessing": {"store": "etcd"}})
    with pytest.raises(ConfigError, match=r"multiprocessing\.store"):
        mp.Queue()


def test_an_unreachable_redis_is_a_clear_error(redis_server):
    port = _free_port()
    mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {"redis": {"host": "127.0.0.1", "port": port}})
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
        mp.Lock()


# -- another backend: workers that only reach the driver through Redis ----------------------------------------------


def test_a_serverless_backend_needs_redis(sim_config):
    mp_config.set_parameter(mp_config.LITHOPS_CONFIG, sim_config)
    with pytest.raises(ConfigError, match="redis"):
        mp.Queue()


def test_pool_and_process_on_a_serverless_backend_through_redis(sim_config, redis_server):
    mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {**sim_config, "redis": dict(redis_server)})
    with mp.Pool(2) as pool:
        assert pool.map(square, range(4), chunksize=2) == [0, 1, 4, 9]
    q = mp.Queue()
    p = mp.Process(target=put_many, args=(q, 3))
    p.start()
    assert [q.get(timeout=60) for _ in range(3)] == [0, 1, 2]
    p.join()
    assert p.exitcode == 0


# -- what is read back from Redis is authenticated ------------------------------------------------------------


class _TouchOnLoad:
    """Unpickling this creates a file: a stand-in for a forged pickle that runs code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_forged_pickles_in_redis_are_refused(redis_server, tmp_path):
    import redis

    from lithops.job.serialize import dumps
    from lithops.multiprocessing.store import StoreIntegrityError

    mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {"redis": dict(redis_server)})
    marker = tmp_path / "forged-pickle-ran"
    forged = pickle.dumps(_TouchOnLoad(str(marker)))
    raw = redis.Redis(**redis_server)
    manager = mp.Manager()
    q, d, lst, (reader, _writer) = mp.Queue(), manager.dict(), manager.list(), mp.Pipe(duplex=False)
    raw.rpush(q._key + ":items", forged)
    with pytest.raises(StoreIntegrityError, match="not written by this program"):
        q.get(timeout=5)
    raw.rpush(reader._read_key, b"d" + forged)
    with pytest.raises(StoreIntegrityError):
        reader.recv()
    raw.rpush(lst._key, dumps(_TouchOnLoad(str(marker))))
    with pytest.raises(StoreIntegrityError):
        list(lst)
    d["x"] = 1
    raw.hset(d._key, "sx", forged)  # the field of the str key "x"
    with pytest.raises(StoreIntegrityError):
        d["x"]
    assert not marker.exists()
    q.put("genuine")
    assert q.get(timeout=5) == "genuine"  # what this program writes still reads back
    raw.close()


def test_a_redis_without_password_is_warned_about_once(redis_server):
    from lithops.multiprocessing import redisstore

    redisstore._warned.clear()
    mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {"redis": {**redis_server, "db": 2}})
    with pytest.warns(UserWarning, match="no password"):
        mp.Queue()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mp_config.set_parameter(mp_config.LITHOPS_CONFIG, {"redis": {**redis_server, "db": 1}})
        mp.Queue()


def test_pool_jobs_are_named_after_the_users_function():
    from lithops import local_state

    class Doubler:
        def __call__(self, x):
            return 2 * x

    start = time.time()
    with mp.Pool(2) as pool:
        pool.map(square, range(4))
        pool.apply(divmod, (7, 2))
        pool.starmap(pow, [(2, 3)])
        pool.map(Doubler(), [1])
    names = [j.get("function") for j in local_state.read_jobs()
             if j.get("pid") == os.getpid() and (j.get("submitted") or 0) >= start]
    assert names == ["square", "divmod", "pow", "test_pool_jobs_are_named_after_the_users_function.<locals>.Doubler"]


def test_fileno_says_what_to_use_instead(store):
    a, _ = mp.Pipe()
    with pytest.raises(OSError, match=r"poll\(timeout\) or lithops\.multiprocessing\.connection\.wait"):
        a.fileno()
