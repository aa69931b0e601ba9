"""Small programs in the style of the standard library's documentation examples.

Each ``prog_*`` function takes a multiprocessing module (the standard library's, through a context, or
``lithops.multiprocessing``) and returns what a user would look at: printed values, exceptions caught, exit codes.
The comparison tests run every program with both and expect the same outcome. Functions that run in children
live at module level so the standard library can pickle them by name.
"""

import ctypes
import multiprocessing
import multiprocessing.managers
import multiprocessing.sharedctypes
import os
import queue
import re
import sys
import time

import lithops.multiprocessing
import lithops.multiprocessing.managers
import lithops.multiprocessing.sharedctypes

# -- functions run in workers ----------------------------------------------------------------------------------


def square(x):
    return x * x


def divide(a, b):
    return a / b


def sleepy_square(delay, x):
    time.sleep(delay)
    return x * x


def sleepy_identity(args):
    delay, x = args
    time.sleep(delay)
    return x


_offset = None


def init_offset(value):
    global _offset
    _offset = value


def add_offset(x):
    return _offset + x


def produce(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)


def send_hello(conn):
    conn.send([42, None, "hello"])
    conn.close()


def add_under_lock(counter, lock, times):
    for _ in range(times):
        with lock:
            counter.value += 1


def add_with_own_lock(total, times):
    for _ in range(times):
        with total.get_lock():
            total.value += 1.5


def fill_dict_reverse_list(d, lst):
    d[1] = "1"
    d["2"] = 2
    d[0.25] = None
    lst.reverse()


def wait_then_report(event, q, name):
    event.wait()
    q.put(name)


def cross_barrier(barrier, q):
    q.put(barrier.wait())


def consume_joinable(tasks, results):
    while True:
        item = tasks.get()
        if item is None:
            tasks.task_done()
            break
        results.put(item * 2)
        tasks.task_done()


def succeed():
    pass


def raise_value_error():
    raise ValueError("boom")


def exit_three():
    sys.exit(3)


def sleep_long():
    time.sleep(60)


def wait_for_value(cond, value, q):
    with cond:
        while value.value == 0:
            cond.wait()
        q.put(value.value)


def negate_all(n, a):
    n.value = 3.1415927
    for i in range(len(a)):
        a[i] = -a[i]


def report_name(q, ours):
    mp = lithops.multiprocessing if ours else multiprocessing
    q.put(mp.current_process().name)


def set_namespace(ns):
    ns.y = ns.x + 1
    ns.z = "set in child"


def manager_queue_put(q):
    for i in range(3):
        q.put(i * 10)


def hold_semaphore(sem, active, peak, lock):
    with sem:
        with lock:
            active.value += 1
            peak.value = max(peak.value, active.value)
        time.sleep(0.2)
        with lock:
            active.value -= 1


class _DoublerMixin:
    def __init__(self, q, x):
        super().__init__()
        self.q = q
        self.x = x

    def run(self):
        self.q.put(self.x * 2)


class StdDoubler(_DoublerMixin, multiprocessing.context.ForkServerProcess):
    pass


class LithopsDoubler(_DoublerMixin, lithops.multiprocessing.Process):
    pass


def _is_ours(mp):
    return mp is lithops.multiprocessing


# -- the programs ----------------------------------------------------------------------------------------------


def prog_pool_map(mp):
    with mp.Pool(2) as p:
        return p.map(square, range(10)), p.map(square, []), p.starmap(pow, [(2, 3), (3, 2)])


def prog_pool_apply(mp):
    with mp.Pool(2) as p:
        ok = p.apply(divide, (6, 3))
        r = p.apply_async(divide, (1, 0))
        try:
            r.get(timeout=60)
            caught = None
        except ZeroDivisionError as exc:
            caught = type(exc).__name__
        return ok, caught, r.ready(), r.successful(), p.apply_async(square, (7,)).get(timeout=60)


def prog_pool_map_exception(mp):
    with mp.Pool(2) as p:
        try:
            p.starmap(divide, [(1, 1), (1, 0), (2, 1)])
        except ZeroDivisionError as exc:
            return type(exc).__name__
    return None


def prog_imap_ordering(mp):
    with mp.Pool(2) as p:
        p.map(sleepy_identity, [(0.05, 0), (0.05, 0)], chunksize=1)  # both workers up before timing matters
        ordered = list(p.imap(sleepy_identity, [(0.3, "a"), (0.0, "b"), (0.1, "c"), (0.0, "d")]))
        it = p.imap_unordered(sleepy_identity, [(0.8, "slow"), (0.0, "fast")])
        arrival = [next(it), next(it)]
        chunked = list(p.imap(square, range(7), chunksize=3))
        it = p.imap(sleepy_identity, [(1.0, "late")])
        try:
            it.next(timeout=0.05)
            timed_out = False
        except multiprocessing.TimeoutError:
            timed_out = True
        return ordered, arrival, chunked, timed_out, it.next(timeout=30)


def prog_pool_callbacks(mp):
    collected, errors = [], []
    with mp.Pool(2) as p:
        r = p.map_async(square, range(5), callback=collected.append)
        value = r.get(timeout=60)
        e = p.apply_async(divide, (1, 0), error_callback=errors.append)
        e.wait(timeout=60)
        p.close()
        p.join()
    return value, collected, [type(x).__name__ for x in errors], e.successful()


def prog_pool_initializer(mp):
    with mp.Pool(2, initializer=init_offset, initargs=(10,)) as p:
        return p.map(add_offset, range(4)), p.apply(add_offset, (100,))


def prog_pool_close_join(mp):
    p = mp.Pool(2)
    results = [p.apply_async(square, (i,)) for i in range(4)]
    p.close()
    try:
        p.apply_async(square, (1,))
        after_close = None
    except ValueError as exc:
        after_close = str(exc)
    p.join()
    running = mp.Pool(2)
    try:
        running.join()
        join_running = None
    except ValueError as exc:
        join_running = str(exc)
    running.terminate()
    return [r.get() for r in results], after_close, join_running


def prog_process_queue(mp):
    q = mp.Queue()
    p = mp.Process(target=produce, args=(q, 10))
    p.start()
    items = []
    while True:
        item = q.get(timeout=60)
        if item is None:
            break
        items.append(item)
    p.join()
    return items, p.exitcode, p.is_alive()


def prog_queue_timeouts(mp):
    q = mp.Queue()
    outcome = []
    try:
        q.get(timeout=0.1)
    except queue.Empty:
        outcome.append("Empty")
    try:
        q.get_nowait()
    except queue.Empty:
        outcome.append("Empty")
    q.put_nowait("x")
    outcome.append(q.get(timeout=10))
    bounded = mp.Queue(1)
    bounded.put(1)
    try:
        bounded.put(2, timeout=0.1)
    except queue.Full:
        outcome.append("Full")
    try:
        bounded.put_nowait(2)
    except queue.Full:
        outcome.append("Full")
    outcome.append(bounded.get(timeout=10))
    simple = mp.SimpleQueue()
    simple.put({"a": 1})
    outcome.append((simple.empty(), simple.get(), simple.empty()))
    return outcome


def prog_pipe(mp):
    parent, child = mp.Pipe()
    p = mp.Process(target=send_hello, args=(child,))
    p.start()
    message = parent.recv()
    p.join()
    child.close()
    try:
        parent.recv()
        eof = False
    except EOFError:
        eof = True
    reader, writer = mp.Pipe(duplex=False)
    writer.send_bytes(b"0123456789", 2, 5)
    writer.send({"x": 1})
    got = reader.recv_bytes(), reader.poll(), reader.recv(), reader.poll(0.05)
    errors = []
    for call in (lambda: reader.send(1), lambda: writer.recv()):
        try:
            call()
        except OSError:
            errors.append("OSError")
    return message, eof, got, errors, (reader.readable, reader.writable, writer.readable, writer.writable)


def prog_lock_counter(mp):
    counter = mp.Value("i", 0)
    lock = mp.Lock()
    procs = [mp.Process(target=add_under_lock, args=(counter, lock, 25)) for _ in range(4)]
    for p in procs:
        p.start()
    total = mp.Value("d", 0.0)
    more = [mp.Process(target=add_with_own_lock, args=(total, 10)) for _ in range(2)]
    for p in more:
        p.start()
    for p in procs + more:
        p.join()
    return counter.value, total.value, [p.exitcode for p in procs + more]


def prog_value_array(mp):
    num = mp.Value("d", 0.0)
    arr = mp.Array("i", range(10))
    p = mp.Process(target=negate_all, args=(num, arr))
    p.start()
    p.join()
    chars = mp.Array("c", b"hello")
    chars[0] = b"j"
    raw = mp.RawArray("i", 3)
    raw[1:3] = [7, 8]
    errors = []
    calls = (lambda: arr.__setitem__(0, 1.5), lambda: arr.__getitem__(10), lambda: raw.__setitem__(slice(0, 2), [1]))
    for call in calls:
        try:
            call()
        except (TypeError, IndexError, ValueError) as exc:
            errors.append(type(exc).__name__)
    return round(num.value, 7), arr[:], arr[-1], len(arr), chars.value, raw[:], list(raw), errors


def prog_manager_dict_list(mp):
    with mp.Manager() as manager:
        d = manager.dict()
        lst = manager.list(range(10))
        p = mp.Process(target=fill_dict_reverse_list, args=(d, lst))
        p.start()
        p.join()
        printed = str(d), str(lst)
        d.update({"k": [1, 2]}, z=0)
        lst.append(99)
        lst[0] = -1
        ops = (len(d), d.get("missing", "dflt"), d.pop("z"), sorted(map(str, d.keys())), 1 in d, lst[-1], len(lst),
               lst[:3], d.setdefault("new", 5), d.setdefault("new", 6))
        del d[1]
        lst.sort()
        lst.insert(0, "first")
        lst.remove(99)
        return printed, ops, d.copy(), lst[:3], lst.pop(), lst.pop(0), lst.index(2), lst.count(3)


def prog_manager_namespace_queue(mp):
    with mp.Manager() as manager:
        ns = manager.Namespace(x=1)
        p = mp.Process(target=set_namespace, args=(ns,))
        p.start()
        p.join()
        q = manager.Queue()
        p = mp.Process(target=manager_queue_put, args=(q,))
        p.start()
        p.join()
        items = [q.get(timeout=10) for _ in range(3)]
        value = manager.Value("i", 5)
        value.value += 1
        try:
            missing = ns.missing
        except AttributeError:
            missing = "AttributeError"
        return (ns.x, ns.y, ns.z), items, value.value, missing


def prog_event(mp):
    event = mp.Event()
    q = mp.Queue()
    procs = [mp.Process(target=wait_then_report, args=(event, q, f"p{i}")) for i in range(2)]
    for p in procs:
        p.start()
    waited = event.wait(0.2)
    time.sleep(0.2)
    empty_before = q.empty()
    event.set()
    names = sorted(q.get(timeout=60) for _ in procs)
    for p in procs:
        p.join()
    after = event.is_set(), event.wait(0.01)
    event.clear()
    return waited, empty_before, names, after, event.is_set()


def prog_barrier(mp):
    barrier = mp.Barrier(3)
    q = mp.Queue()
    procs = [mp.Process(target=cross_barrier, args=(barrier, q)) for _ in range(3)]
    for p in procs:
        p.start()
    indexes = sorted(q.get(timeout=60) for _ in procs)
    for p in procs:
        p.join()
    lonely = mp.Barrier(2, timeout=0.2)
    try:
        lonely.wait()
        broken = None
    except Exception as exc:
        broken = type(exc).__name__
    return indexes, barrier.parties, barrier.n_waiting, barrier.broken, broken, lonely.broken


def prog_joinable_queue(mp):
    tasks = mp.JoinableQueue()
    results = mp.Queue()
    workers = [mp.Process(target=consume_joinable, args=(tasks, results)) for _ in range(2)]
    for w in workers:
        w.start()
    for i in range(10):
        tasks.put(i)
    for _ in workers:
        tasks.put(None)
    tasks.join()
    done = sorted(results.get(timeout=10) for _ in range(10))
    for w in workers:
        w.join()
    try:
        tasks.task_done()
        extra = None
    except ValueError as exc:
        extra = str(exc)
    return done, extra


def prog_process_exitcodes(mp):
    procs = [mp.Process(target=t) for t in (succeed, raise_value_error, exit_three)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    sleeper = mp.Process(target=sleep_long, daemon=True)
    before = sleeper.exitcode, sleeper.is_alive()
    sleeper.start()
    alive = sleeper.is_alive()
    sleeper.terminate()
    sleeper.join()
    try:
        sleeper.start()
        restart = None
    except AssertionError as exc:
        restart = str(exc)
    return [p.exitcode for p in procs], before, alive, sleeper.is_alive(), sleeper.exitcode, restart


def prog_process_names(mp):
    q = mp.Queue()
    named = mp.Process(target=report_name, args=(q, _is_ours(mp)), name="worker-x")
    named.start()
    name = q.get(timeout=60)
    named.join()
    unnamed = mp.Process(target=succeed)
    doubler = (LithopsDoubler if _is_ours(mp) else StdDoubler)(q, 21)
    doubler.start()
    doubled = q.get(timeout=60)
    doubler.join()
    return (name, bool(re.fullmatch(r"\w*Process-\d+", unnamed.name)), doubled, doubler.exitcode,
            mp.current_process().name, isinstance(doubler.pid, int), unnamed.pid)


def prog_condition(mp):
    cond = mp.Condition()
    value = mp.Value("i", 0)
    q = mp.Queue()
    procs = [mp.Process(target=wait_for_value, args=(cond, value, q)) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(0.3)
    with cond:
        value.value = 7
        cond.notify_all()
    got = sorted(q.get(timeout=60) for _ in procs)
    for p in procs:
        p.join()
    with cond:
        timed = cond.wait(0.05)
        ready = cond.wait_for(lambda: value.value == 7, timeout=0.05)
    errors = []
    for call in (cond.notify, lambda: cond.wait(0.01)):
        try:
            call()
        except (AssertionError, RuntimeError) as exc:
            errors.append(type(exc).__name__)
    return got, timed, ready, errors


def prog_locks_and_semaphores(mp):
    lock = mp.Lock()
    outcome = [lock.acquire(), lock.acquire(False), lock.acquire(timeout=0.05)]
    lock.release()
    try:
        lock.release()
    except ValueError:
        outcome.append("ValueError")
    rlock = mp.RLock()
    outcome += [rlock.acquire(), rlock.acquire()]
    rlock.release()
    rlock.release()
    try:
        rlock.release()
    except AssertionError:
        outcome.append("AssertionError")
    sem = mp.Semaphore(2)
    outcome += [sem.acquire(), sem.acquire(), sem.acquire(False), sem.acquire(timeout=0.05)]
    sem.release()
    sem.release()
    sem.release()
    outcome.append(sem.get_value())
    bounded = mp.BoundedSemaphore(1)
    try:
        bounded.release()
    except ValueError:
        outcome.append("ValueError")
    with bounded:
        outcome.append(bounded.get_value())
    return outcome


def prog_semaphore_limits_concurrency(mp):
    sem = mp.Semaphore(2)
    lock = mp.Lock()
    active, peak = mp.Value("i", 0, lock=False), mp.Value("i", 0, lock=False)
    procs = [mp.Process(target=hold_semaphore, args=(sem, active, peak, lock)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return peak.value <= 2, active.value, [p.exitcode for p in procs]


# -- issue: behaving like the standard library (each program below covers one item) ---------------------------


def child_closes_unused_end(parent_conn, child_conn):
    parent_conn.close()  # the end this child does not use
    child_conn.send("first")
    child_conn.send(child_conn.recv() * 2)
    child_conn.close()


def child_sends_and_ends(conn):
    conn.send("bye")  # and ends without closing its end


def _recv_or_eof(conn):
    if not conn.poll(30):
        return "nothing within 30 s"
    try:
        return conn.recv()
    except EOFError:
        return "EOFError"


def prog_pipe_close_semantics(mp):
    parent_conn, child_conn = mp.Pipe()
    p = mp.Process(target=child_closes_unused_end, args=(parent_conn, child_conn))
    p.start()
    child_conn.close()
    got = [_recv_or_eof(parent_conn)]
    parent_conn.send(21)
    got += [_recv_or_eof(parent_conn), _recv_or_eof(parent_conn)]
    p.join()
    got.append(p.exitcode)
    reader, writer = mp.Pipe(duplex=False)
    p = mp.Process(target=child_sends_and_ends, args=(writer,))
    p.start()
    writer.close()
    got += [_recv_or_eof(reader), _recv_or_eof(reader)]
    p.join()
    a, b = mp.Pipe()
    b.send(1)
    b.close()
    got += [_recv_or_eof(a), _recv_or_eof(a)]
    try:
        b.send(2)
    except OSError as exc:
        got.append(type(exc).__name__)
    return got


def _mp_of(ours):
    return lithops.multiprocessing if ours else multiprocessing


def _connection_module(ours):
    import multiprocessing.connection

    import lithops.multiprocessing.connection

    return lithops.multiprocessing.connection if ours else multiprocessing.connection


def report_parent(q, ours):
    pp = _mp_of(ours).parent_process()
    q.put(None if pp is None else (pp.name, pp.pid, pp.is_alive()))


def parent_of_task(ours):
    pp = _mp_of(ours).parent_process()
    return None if pp is None else (pp.name, pp.pid)


def prog_parent_process(mp):
    q = mp.Queue()
    p = mp.Process(target=report_parent, args=(q, _is_ours(mp)))
    p.start()
    in_child = q.get(timeout=60)
    p.join()
    with mp.Pool(1) as pool:
        in_task = pool.apply(parent_of_task, (_is_ours(mp),))
    return mp.parent_process(), in_child == ("MainProcess", os.getpid(), True), in_task == ("MainProcess", os.getpid())


def start_late_thread(done):
    import threading

    def late():
        time.sleep(0.5)
        done.value = 1

    threading.Thread(target=late).start()


def prog_join_waits_for_threads(mp):
    done = mp.Value("i", 0)
    p = mp.Process(target=start_late_thread, args=(done,))
    p.start()
    p.join(60)
    return done.value, p.exitcode


def leave_daemon_thread(started):
    import threading

    def forever():
        while True:
            time.sleep(0.05)

    threading.Thread(target=forever, name="left-by-child", daemon=True).start()
    started.value = 1


def report_leftover_threads(q):
    import threading

    q.put(sorted(t.name for t in threading.enumerate() if t.name == "left-by-child"))


def prog_daemon_threads_end_with_their_process(mp):
    started = mp.Value("i", 0)
    p = mp.Process(target=leave_daemon_thread, args=(started,))
    p.start()
    p.join(60)
    q = mp.Queue()
    seen = []
    for _ in range(4):  # later children, wherever they run, do not see the thread
        child = mp.Process(target=report_leftover_threads, args=(q,))
        child.start()
        seen.extend(q.get(timeout=60))
        child.join(60)
    return started.value, p.exitcode, seen


def report_authkey(q, ours):
    q.put(bytes(_mp_of(ours).current_process().authkey))


def prog_authkey_sentinel_wait(mp):
    ours = _is_ours(mp)
    wait = _connection_module(ours).wait
    q = mp.Queue()
    p = mp.Process(target=report_authkey, args=(q, ours))
    inherited = bytes(p.authkey) == bytes(mp.current_process().authkey)
    p.start()
    child_key = q.get(timeout=60)
    ready = wait([p.sentinel], timeout=60)
    p.join()
    a, b = mp.Pipe()
    nothing = wait([a], timeout=0.1)
    b.send(1)
    something = wait([a, p.sentinel], timeout=30)
    return (inherited, child_key == bytes(mp.current_process().authkey), ready == [p.sentinel], nothing,
            len(something), a in something)


class CallableTarget:
    def __call__(self):
        pass


def prog_close_then_value_error(mp):
    import gc
    import weakref

    target = CallableTarget()
    ref = weakref.ref(target)
    p = mp.Process(target=target)
    p.start()
    p.join()
    del target
    gc.collect()
    released = ref() is None
    p.close()
    outcome = []
    for call in (p.is_alive, p.join, p.terminate, p.kill, lambda: p.exitcode, p.start):
        try:
            call()
            outcome.append("no error")
        except ValueError:
            outcome.append("ValueError")
    return released, outcome


def report_log_level(q, ours):
    q.put(_mp_of(ours).get_logger().getEffectiveLevel())


def prog_logger_level(mp):
    logger = mp.get_logger()
    before = logger.level
    logger.setLevel(35)
    try:
        q = mp.Queue()
        p = mp.Process(target=report_log_level, args=(q, _is_ours(mp)))
        p.start()
        level = q.get(timeout=60)
        p.join()
    finally:
        logger.setLevel(before)
    return level


def fail_first_else_mark(args):
    i, folder = args
    if i == 0:
        raise ValueError("the first task fails")
    time.sleep(0.5)
    open(os.path.join(folder, str(i)), "w").close()
    return i


def prog_pool_join_after_failed_map(mp):
    import shutil
    import tempfile

    folder = tempfile.mkdtemp()
    try:
        pool = mp.Pool(2)
        try:
            pool.map(fail_first_else_mark, [(i, folder) for i in range(4)], chunksize=1)
            error = None
        except ValueError as exc:
            error = str(exc)
        pool.close()
        pool.join()
        return error, sorted(os.listdir(folder))
    finally:
        shutil.rmtree(folder)


def numbers_then_error(n):
    yield from range(n)
    raise KeyError("the input broke")


def endless():
    i = 0
    while True:
        yield i
        i += 1


def prog_imap_reads_input_in_background(mp):
    with mp.Pool(2) as pool:
        results = pool.imap(square, numbers_then_error(3))  # the input's error must not come out of imap()
        got = []
        try:
            for x in results:
                got.append(x)
        except KeyError as exc:
            got.append(("KeyError", str(exc)))
        try:
            next(results)
            after = "a result"
        except StopIteration:
            after = "StopIteration"
        unordered = sorted(pool.imap_unordered(square, (x for x in range(7)), chunksize=2))
        endless_results = pool.imap(square, endless())  # last: the standard library reads inputs one at a time
        first = [endless_results.next(timeout=60) for _ in range(5)]
    return got, after, unordered, first


class RefusesPickling:
    def __reduce__(self):
        import pickle

        raise pickle.PicklingError("this object refuses to be pickled")


def prog_unpicklable_arguments(mp):
    import pickle
    import threading

    outcome = []
    with mp.Pool(1) as pool:
        for bad in (threading.Lock(), RefusesPickling()):
            errors = []
            try:
                result = pool.apply_async(square, (bad,), error_callback=errors.append)
                stage = "get"
                result.get(timeout=60)
            except pickle.PicklingError:
                outcome.append((stage, "PicklingError", [type(e) for e in errors]))
            except TypeError:
                outcome.append((stage, "TypeError", [type(e) for e in errors]))
            try:
                pool.map(square, [1, bad])
            except (pickle.PicklingError, TypeError) as exc:
                outcome.append(isinstance(exc, pickle.PicklingError))
        outcome.append(pool.map(square, [3]))
    return outcome


class Blob:
    def __init__(self, n):
        self.data = bytes(n)


def make_blob(n):
    return Blob(n)


def blob_size(blob):
    return len(blob.data)


def fail_with_value_error(x):
    raise ValueError(f"task {x} failed")


def prog_pool_memory_warning_traceback(mp):
    import gc
    import warnings
    import weakref

    pool = mp.Pool(2)
    argument = Blob(10)
    argument_ref = weakref.ref(argument)
    sizes = pool.map(blob_size, [argument, Blob(1)])
    del argument
    results = pool.map(make_blob, [5, 6])
    result_ref = weakref.ref(results[0])
    del results
    applied_ref = weakref.ref(pool.apply_async(make_blob, (3,)).get(timeout=60))
    for _ in range(50):  # the standard library drops its last references from its handler threads
        gc.collect()
        if argument_ref() is None and result_ref() is None and applied_ref() is None:
            break
        time.sleep(0.1)
    released = (argument_ref() is None, result_ref() is None, applied_ref() is None)
    try:
        pool.apply(fail_with_value_error, (7,))
    except ValueError as exc:
        cause = exc.__cause__
        remote = (type(cause).__module__, type(cause).__name__, "fail_with_value_error" in str(cause),
                  'raise ValueError(f"task {x} failed")' in str(cause))
    pool_module = sys.modules[type(pool).__module__]
    has_remote_traceback = getattr(pool_module, "RemoteTraceback", None) is type(cause)
    pool.terminate()
    unclosed_pool = mp.Pool(1)
    unclosed_pool.map(square, [1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del unclosed_pool
        gc.collect()
    unclosed = [str(w.message).startswith("unclosed running multiprocessing pool") for w in caught
                if issubclass(w.category, ResourceWarning)]
    return sizes, released, remote, has_remote_traceback, unclosed


class MathsClass:
    def __init__(self):
        self.calls = 0

    def add(self, x, y):
        self.calls += 1
        return x + y

    def mul(self, x, y):
        self.calls += 1
        return x * y

    def count(self):
        return self.calls


class StdMathsManager(multiprocessing.managers.BaseManager):
    pass


class OurMathsManager(lithops.multiprocessing.managers.BaseManager):
    pass


StdMathsManager.register("Maths", MathsClass)
OurMathsManager.register("Maths", MathsClass)


def use_maths(maths):
    return maths.add(4, 3), maths.mul(7, 8)


def send_through_client(address, family, authkey_of_child, ours):
    client = _connection_module(ours).Client(address, family=family,
                                             authkey=bytes(_mp_of(ours).current_process().authkey))
    with client:
        client.send(client.recv() * 2)


def prog_base_manager_and_listener(mp):
    ours = _is_ours(mp)
    manager = (OurMathsManager if ours else StdMathsManager)(ctx=None if ours else mp)
    with manager:
        maths = manager.Maths()
        here = use_maths(maths)
        with mp.Pool(2) as pool:
            there = pool.map(use_maths, [maths, maths])
        calls = maths.count()
        exposed = hasattr(maths, "count"), hasattr(maths, "calls")
    connection = _connection_module(ours)
    listened = []
    for family in ("AF_INET", "AF_UNIX"):
        address = ("127.0.0.1", 0) if family == "AF_INET" else None
        with connection.Listener(address, family=family, authkey=bytes(mp.current_process().authkey)) as listener:
            p = mp.Process(target=send_through_client, args=(listener.address, family, None, ours))
            p.start()
            with listener.accept() as conn:
                conn.send(21)
                listened.append(conn.recv())
            p.join()
    return here, there, calls, exposed, listened, sorted(connection.families)


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


def move_points(value, array):
    with value.get_lock():
        value.x += 1
        value.y *= 2
    for i in range(len(array)):
        array[i] = Point(array[i].x * 10, array[i].y)


def prog_ctypes_structures_copy_raw(mp):
    ours = _is_ours(mp)
    sharedctypes = lithops.multiprocessing.sharedctypes if ours else multiprocessing.sharedctypes
    value = mp.Value(Point, 1.5, 2.0)
    array = mp.Array(Point, [(1, 2), (3, 4)])
    p = mp.Process(target=move_points, args=(value, array))
    p.start()
    p.join()
    raw, raw_array, unlocked = mp.RawValue("i", 7), mp.RawArray("d", 3), mp.Value("i", 1, lock=False)
    attributes = [(hasattr(o, "get_lock"), hasattr(o, "get_obj")) for o in (raw, raw_array, unlocked)]
    copied = sharedctypes.copy(value.get_obj())
    copied_array = sharedctypes.copy(array.get_obj())
    copied_int = sharedctypes.copy(ctypes.c_int(5))
    return ((value.x, value.y), [(pt.x, pt.y) for pt in array], attributes, (copied.x, copied.y),
            [(pt.x, pt.y) for pt in copied_array], copied_int.value, raw.value, list(raw_array))


def prog_managed_iteration_is_live(mp):
    with mp.Manager() as manager:
        numbers = manager.list([1, 2, 3])
        seen = []
        for x in numbers:
            seen.append(x)
            if x == 1:
                numbers.append(4)
            if len(seen) > 10:
                break
        changing = manager.list([1, 2, 3])
        iterator = iter(changing)
        first = next(iterator)
        changing[1] = 20
        rest = list(iterator)
        d = manager.dict(a=1, b=2)
        keys = iter(d)
        first_key = next(keys)
        d["c"] = 3
        try:
            outcome = ("no error", list(keys))
        except RuntimeError as exc:
            outcome = ("RuntimeError", str(exc))
        d2 = manager.dict(a=1, b=2)
        values_seen = []
        for key in d2:
            d2["b"] = 20  # same size: iteration goes on and sees the new value
            values_seen.append((key, d2[key]))
    return seen, first, rest, first_key, outcome, values_seen


def prog_event_repr(mp):
    event = mp.Event()
    before = re.sub(r"0x[0-9a-f]+", "ADDR", repr(event))
    event.set()
    after = re.sub(r"0x[0-9a-f]+", "ADDR", repr(event))
    return before, after, repr(event).endswith(f"at {id(event):#x} set>")


PROGRAMS = {name[len("prog_"):]: fn for name, fn in globals().items() if name.startswith("prog_")}


def stdlib():
    """The standard library, through a forkserver context (the test process runs threads; fork would copy them)."""
    return multiprocessing.get_context("forkserver")


if __name__ == "__main__":  # a quick manual run: python mp_programs.py
    for name, program in PROGRAMS.items():
        print(name, program(stdlib()) == program(lithops.multiprocessing), file=sys.stderr)
    print(os.getpid())
