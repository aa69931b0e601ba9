"""Upload text to storage, count words with a chunked map_reduce, and write the report with cloud_proxy.

Run: python examples/storage_wordcount.py   (localhost backend and storage; no config needed)
"""

import collections

import lithops
from lithops.storage.cloud_proxy import open as cloud_open

TEXT = "the quick brown fox jumps over the lazy dog\n" * 5000


def count_words(obj):
    counts = collections.Counter()
    for line in obj.data_stream:
        counts.update(line.decode().split())
    return counts


def merge(results):
    total = collections.Counter()
    for counts in results:
        total.update(counts)
    return total


if __name__ == "__main__":
    storage = lithops.Storage()
    storage.put_object(storage.bucket, "example/text/part-1.txt", TEXT)
    storage.put_object(storage.bucket, "example/text/part-2.txt", TEXT[:4400])

    with lithops.FunctionExecutor() as fexec:
        totals = fexec.map_reduce(count_words, f"{storage.bucket}/example/text/", merge,
                                  obj_chunk_size=32 * 1024).get_result()
        print(f"{len(fexec.futures) - 1} chunks counted")

    with cloud_open("/example/report.txt", "w") as report:
        for word, n in totals.most_common():
            report.write(f"{word} {n}\n")
    with cloud_open("/example/report.txt") as report:
        print(report.read().strip())
