"""A first tour of Lithops on this machine: call_async, map, map_reduce and storage.

Install the kernel and the localhost plugin, then run this file:

    pip install ./packages/lithops-core ./packages/lithops-localhost
    python examples/localhost_hello.py

No config file is needed: with none, Lithops runs calls in warm local processes and keeps objects in a folder
under the system temp directory (see docs/backends/localhost.md).
"""

from lithops import FunctionExecutor, Storage


def greet(name):
    return f"Hello {name}!"


def square(x):
    return x * x


def add(x, y):
    return x + y


def total(results):
    # The reducer gets one argument: the list of all map results, in call order.
    return sum(results)


def save_square(x, id, storage):
    # 'id' (the call index) and 'storage' (a lithops.Storage) are filled in by Lithops when declared.
    key = f"examples/square-{id}"
    storage.put_object(storage.bucket, key, str(x * x))
    return key


def main():
    with FunctionExecutor() as fexec:
        # One call: the argument is passed as is.
        future = fexec.call_async(greet, "world")
        print(future.result())

        # One call per element; a tuple is unpacked into positional arguments, a dict into keyword arguments.
        print(fexec.map(square, range(5)).get_result())
        print(fexec.map(add, [(1, 2), {"x": 3, "y": 4}]).get_result())

        # Map, then reduce the list of map results in one more call.
        print(fexec.map_reduce(square, range(10), total).get_result())

        # Calls can use storage too; their keys come back as results.
        keys = fexec.map(save_square, [3, 4]).get_result()

    # Storage works without an executor: same backend and bucket as the executor's.
    storage = Storage()
    for key in keys:
        print(key, storage.get_object(storage.bucket, key).decode())
        storage.delete_object(storage.bucket, key)

    storage.put_object(storage.bucket, "examples/hello.txt", b"stored with lithops.Storage")
    print(storage.get_object(storage.bucket, "examples/hello.txt"))
    print(storage.list_keys(storage.bucket, prefix="examples/"))
    storage.delete_object(storage.bucket, "examples/hello.txt")


if __name__ == "__main__":
    main()
