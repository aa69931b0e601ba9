"""Storage and data-map speed, side by side with plain local file I/O in the same run.

Cases (targets from the storage issue):
  small   put and get of 1,000 objects of 1 KiB through lithops.Storage (localhost backend) vs open()/write()/read()
          of 1,000 files; target: within 1.2x.
  large   one 1 GiB object: put_object from a file and a streamed get_object vs copying / reading the file in
          1 MiB blocks; target: within 1.2x.
  wordcount  word count over a 1 GiB text file, map_reduce with 64 MiB chunks vs one process reading it;
          reports the driver's peak memory (target: under 200 MiB).

Usage: python benchmarks/bench_storage.py [--repeat N] [--cases small,large,wordcount] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 1024 * 1024


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(name, ours, base, target):
    mo, mb = statistics.median(ours), statistics.median(base)
    ratio = mo / mb
    verdict = "ok" if ratio <= target else "MISSED"
    print(f"{name:<34} lithops {mo:8.3f} s   baseline {mb:8.3f} s   ratio {ratio:5.2f}x   "
          f"target <= {target}x  {verdict}")
    return {"case": name, "lithops_s": mo, "baseline_s": mb, "ratio": ratio, "target": target}


def bench_small(storage, root, repeat):
    payload = os.urandom(1024)
    raw_dir = os.path.join(root, "raw-small")
    os.makedirs(raw_dir, exist_ok=True)
    bucket = storage.bucket
    rows = []
    puts, raw_puts, gets, raw_gets = [], [], [], []
    for r in range(repeat):
        puts.append(timed(lambda r=r: [storage.put_object(bucket, f"small/{r}/{i}", payload) for i in range(1000)]))

        def raw_put(r=r):
            for i in range(1000):
                with open(os.path.join(raw_dir, f"{r}-{i}"), "wb") as f:
                    f.write(payload)

        raw_puts.append(timed(raw_put))
        os.sync()  # reads measured without the writes above still going to disk
        gets.append(timed(lambda r=r: [storage.get_object(bucket, f"small/{r}/{i}") for i in range(1000)]))

        def raw_get(r=r):
            for i in range(1000):
                with open(os.path.join(raw_dir, f"{r}-{i}"), "rb") as f:
                    f.read()

        raw_gets.append(timed(raw_get))
    rows.append(report("put 1,000 x 1 KiB", puts, raw_puts, 1.2))
    rows.append(report("get 1,000 x 1 KiB", gets, raw_gets, 1.2))
    return rows


def bench_large(storage, root, repeat, size_mib):
    src = os.path.join(root, "large.bin")
    with open(src, "wb") as f:
        block = os.urandom(MIB)
        for _ in range(size_mib):
            f.write(block)
    copy = os.path.join(root, "large-copy.bin")
    bucket = storage.bucket
    puts, raw_puts, gets, raw_gets = [], [], [], []

    def drain(stream):
        while stream.read(MIB):
            pass
        stream.close()

    for _ in range(repeat):
        def put():
            with open(src, "rb") as f:
                storage.put_object(bucket, "large/object.bin", f)

        storage.delete_object(bucket, "large/object.bin")  # both sides write a new file
        puts.append(timed(put))

        def raw_put():
            with open(src, "rb") as f, open(copy, "wb") as out:
                shutil.copyfileobj(f, out, MIB)

        raw_puts.append(timed(raw_put))
        os.sync()  # reads measured without the writes above still going to disk
        gets.append(timed(lambda: drain(storage.get_object(bucket, "large/object.bin", stream=True))))
        raw_gets.append(timed(lambda: drain(open(copy, "rb"))))
        os.unlink(copy)
    rows = [report(f"put {size_mib} MiB object", puts, raw_puts, 1.2),
            report(f"get {size_mib} MiB object (stream)", gets, raw_gets, 1.2)]
    os.unlink(src)
    return rows


WORDS = [w.encode() for w in "the of and to in is was he for it with as his on be at by had".split()]


def make_text(path, size_mib):
    import random

    rnd = random.Random(7)
    lines = [b" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 14))) for _ in range(20000)]
    block = b"\n".join(lines) + b"\n"
    with open(path, "wb") as f:
        written = 0
        while written < size_mib * MIB:
            f.write(block)
            written += len(block)


def count_chunk(obj):
    counts = collections.Counter()
    for line in obj.data_stream:
        counts.update(line.split())
    return counts


def merge_counts(results):
    total = collections.Counter()
    for c in results:
        total.update(c)
    return total


def count_file(path):
    counts = collections.Counter()
    with open(path, "rb") as f:
        for line in f:
            counts.update(line.split())
    return counts


def wordcount_driver(path, chunk_mib):
    """Runs in a fresh process so that its peak memory is its own."""
    import lithops

    start = time.perf_counter()
    with lithops.FunctionExecutor(log_level=None) as fexec:
        result = fexec.map_reduce(count_chunk, [path], merge_counts, obj_chunk_size=chunk_mib * MIB).get_result()
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"elapsed": elapsed, "peak_mib": peak_mib, "words": sum(result.values())}))


def bench_wordcount(root, repeat, size_mib):
    path = os.path.join(root, "text.txt")
    make_text(path, size_mib)
    ours, base, peaks = [], [], []
    words = None
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--wordcount-driver", path], capture_output=True, text=True,
                             check=True)
        doc = json.loads(out.stdout.strip().splitlines()[-1])
        ours.append(doc["elapsed"])
        peaks.append(doc["peak_mib"])
        start = time.perf_counter()
        counts = count_file(path)
        base.append(time.perf_counter() - start)
        words = sum(counts.values())
        assert doc["words"] == words, "word counts differ"
    row = report(f"word count {size_mib} MiB, 64 MiB chunks", ours, base, 1.0)
    row["driver_peak_mib"] = max(peaks)
    row["words"] = words
    verdict = "ok" if max(peaks) < 200 else "MISSED"
    print(f"{'':<34} driver peak memory {max(peaks):.0f} MiB (target < 200 MiB) {verdict}; {words:,} words, "
          f"same as the single-process count")
    os.unlink(path)
    return [row]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="small,large,wordcount")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--json")
    parser.add_argument("--wordcount-driver", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.wordcount_driver:
        wordcount_driver(args.wordcount_driver, 64)
        return
    import lithops

    cases = args.cases.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lithops-bench-") as root:
        os.environ["LITHOPS_CONFIG_FILE"] = os.path.join(root, "empty.yaml")
        open(os.environ["LITHOPS_CONFIG_FILE"], "w").close()
        storage = lithops.Storage(config={"localhost": {"storage_root": os.path.join(root, "storage")}})
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, repeat {args.repeat}, medians")
        if "small" in cases:
            rows += bench_small(storage, root, args.repeat)
        if "large" in cases:
            rows += bench_large(storage, root, args.repeat, args.size_mib)
        if "wordcount" in cases:
            rows += bench_wordcount(root, args.repeat, args.size_mib)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
