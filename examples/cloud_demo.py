"""The demo the cloud examples share: map, map_reduce and a data map (a word count over objects under a prefix).

Each `<cloud>_map.py` example only builds its configuration (a real cloud, or the local stand-ins of `--local`),
then calls `put_texts` and `run_demo` from here, so every backend runs and prints the same thing.
"""

import collections

TEXTS = ["the quick brown fox", "the lazy dog and the fox", "a fox"]
PREFIX = "example/texts/"


def double(x):
    return 2 * x


def total(results):
    return sum(results)


def count_words(obj):
    # a data map: each call gets one chunk of an object under the prefix
    return collections.Counter(obj.data_stream.read().decode().split())


def merge(counters):
    result = collections.Counter()
    for c in counters:
        result.update(c)
    return dict(result.most_common(3))


def put_texts(storage, bucket: str) -> str:
    """Write the demo's small text objects into `bucket` with a `lithops.Storage`; return their key prefix."""
    for i, text in enumerate(TEXTS):
        storage.put_object(bucket, f"{PREFIX}{i}.txt", (text + "\n") * 100)
    return PREFIX


def run_demo(fexec, data_url: str) -> None:
    """Run and print map, map_reduce and a data map over `data_url` (e.g. 's3://bucket/example/texts/') on `fexec`."""
    print("map:       ", fexec.map(double, range(10)).get_result())
    print("map_reduce:", fexec.map_reduce(double, range(100), total).get_result())
    print("data map:  ", fexec.map_reduce(count_words, data_url, merge, obj_chunk_size=1024).get_result())
