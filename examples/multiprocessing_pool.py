"""Code written for the standard library's multiprocessing, run by Lithops: change only the import.

    pip install ./packages/lithops-core ./packages/lithops-localhost
    python examples/multiprocessing_pool.py

On localhost nothing needs configuring: Pool tasks and Processes run in Lithops' warm worker processes, and the
queue, lock and value below live in a small store server inside this script's process. With a 'redis' section
in the Lithops config (and `pip install 'lithops-core[multiprocessing]'`) the same code keeps them in Redis and
runs on any backend. See docs/multiprocessing.md.
"""

from lithops.multiprocessing import Lock, Manager, Pool, Process, Queue, Value


def square(x):
    return x * x


def slow_div(a, b):
    return a / b


def producer(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)  # tells the consumer we are done


def add_many(counter, lock, times):
    for _ in range(times):
        with lock:  # counter.value += 1 is a read then a write: guard it
            counter.value += 1


def record(shared, key):
    shared[key] = key.upper()


def main():
    with Pool() as pool:
        print(pool.map(square, range(10)))
        print(list(pool.imap(square, range(5))))
        result = pool.apply_async(slow_div, (1, 0))
        try:
            result.get(timeout=60)
        except ZeroDivisionError as exc:  # raised in a worker, re-raised here
            print("caught", type(exc).__name__)

    q = Queue()
    p = Process(target=producer, args=(q, 5))
    p.start()
    items = []
    while (item := q.get()) is not None:
        items.append(item)
    p.join()
    print("from the queue:", items, "exit code", p.exitcode)

    counter, lock = Value("i", 0), Lock()
    workers = [Process(target=add_many, args=(counter, lock, 50)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print("counter:", counter.value)

    with Manager() as manager:
        shared = manager.dict()
        workers = [Process(target=record, args=(shared, key)) for key in ("a", "b", "c")]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print("manager dict:", dict(sorted(shared.items())))


if __name__ == "__main__":
    main()
