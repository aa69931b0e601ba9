"""Data maps: `obj` functions over stored prefixes, keys, buckets, URLs and local files, split into chunks."""

import collections
import http.server
import random
import threading

import pytest

import lithops
from lithops.errors import PartitionError
from lithops.storage.utils import StorageNoSuchKeyError

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon"]


def make_text(lines, seed=0):
    rnd = random.Random(seed)
    return "\n".join(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 9))) for _ in range(lines)) + "\n"


def count_words(obj):
    data = obj.data_stream.read().decode()
    return dict(collections.Counter(data.split())), data.count("\n")


def merge(results):
    total, lines = collections.Counter(), 0
    for counts, n in results:
        total.update(counts)
        lines += n
    return dict(total), lines


def expected(*texts):
    return dict(sum((collections.Counter(t.split()) for t in texts), collections.Counter())), sum(
        t.count("\n") for t in texts)


def describe(obj):
    return obj.bucket, obj.key, obj.part, obj.total_parts, obj.data_byte_range, obj.chunk_size


def with_extra(obj, tag):
    return tag, obj.key


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    ranges = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        rng = self.headers.get("Range")
        if rng and self.ranges:
            start, _, end = rng.removeprefix("bytes=").partition("-")
            start = int(start)
            end = min(len(body) - 1, int(end)) if end else len(body) - 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
            part = body[start:end + 1]
        else:
            self.send_response(200)
            part = body
        if not self.path.startswith("/nolength/"):
            self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        self.wfile.write(part)


@pytest.fixture
def http_files():
    """A local HTTP server with Range support; /norange/... and /nolength/... paths answer without ranges, the
    latter without a Content-Length either (the body ends when the connection closes)."""
    files = {}

    class Handler(_RangeHandler):
        pass

    Handler.files = files

    class NoRange(Handler):
        ranges = False

        def do_GET(self):
            self.ranges = not self.path.startswith(("/norange/", "/nolength/"))
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoRange)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield files, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def text():
    return make_text(3000)


@pytest.fixture
def cfg(tmp_path):
    return {"localhost": {"storage_root": str(tmp_path / "root")}}


@pytest.fixture
def fexec(cfg):
    with lithops.FunctionExecutor(config=cfg, log_level=None) as executor:
        yield executor


@pytest.fixture
def storage(cfg):
    return lithops.Storage(config=cfg)


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 1000, 10_000_000])
def test_prefix_word_count_is_exact_for_any_chunk_size(fexec, storage, chunk_size):
    big = make_text(60 if chunk_size == 1 else 3000, seed=1)  # 1-byte chunks: one call per byte
    small = make_text(7, seed=2)
    storage.put_object(storage.bucket, "books/a.txt", big)
    storage.put_object(storage.bucket, "books/b.txt", small)
    result = fexec.map_reduce(count_words, "storage/books/", merge, obj_chunk_size=chunk_size).get_result()
    assert result == expected(big, small)


def test_obj_attributes_and_chunk_counts(fexec, storage):
    storage.put_object(storage.bucket, "k/data.csv", b"x" * 1000)
    results = fexec.map(describe, ["storage/k/data.csv"], obj_chunk_number=4).get_result()
    # parts are numbered from 1, as in Lithops
    assert [r[2:] for r in results] == [(1, 4, (0, 249), 250), (2, 4, (250, 499), 250), (3, 4, (500, 749), 250),
                                        (4, 4, (750, 999), 250)]
    assert {r[:2] for r in results} == {("storage", "k/data.csv")}
    # the last chunk's chunk_size is its own length; a whole object reports its full byte range
    results = fexec.map(describe, ["storage/k/data.csv"], obj_chunk_size=300).get_result()
    assert [r[2:] for r in results] == [(1, 4, (0, 299), 300), (2, 4, (300, 599), 300), (3, 4, (600, 899), 300),
                                        (4, 4, (900, 999), 100)]
    assert fexec.map(describe, ["storage/k/data.csv"]).get_result() == [("storage", "k/data.csv", 1, 1, (0, 999),
                                                                         1000)]


def test_forms_of_stored_inputs(fexec, storage):
    storage.put_object(storage.bucket, "one/x.txt", b"1\n")
    storage.put_object(storage.bucket, "one/y.txt", b"2\n")
    keys = lambda data: sorted(r[1] for r in fexec.map(describe, data).get_result())  # noqa: E731
    assert keys("storage") == ["one/x.txt", "one/y.txt"]
    assert keys(["storage/one/x.txt"]) == ["one/x.txt"]
    assert keys(["localhost://storage/one/"]) == ["one/x.txt", "one/y.txt"]
    assert fexec.map(with_extra, [{"obj": "storage/one/x.txt", "tag": "t"}]).get_result() == [("t", "one/x.txt")]


def test_reduce_by_key_gives_one_reducer_per_object(fexec, storage, text):
    storage.put_object(storage.bucket, "rk/a.txt", text)
    storage.put_object(storage.bucket, "rk/b.txt", text[:2000])
    result = fexec.map_reduce(count_words, "storage/rk/", merge, obj_chunk_size=3000,
                              obj_reduce_by_key=True).get_result()
    assert result == [expected(text), expected(text[:2000])]


def test_reduce_by_key_follows_the_inputs_as_lithops_does(fexec, storage, text):
    """One reducer per object of each input, in input order then listing order: an object named twice (alone,
    or by a prefix and by its key) is reduced twice, as in Lithops."""
    storage.put_object(storage.bucket, "rk/a.txt", text)
    storage.put_object(storage.bucket, "rk/b.txt", text[:2000])
    twice = fexec.map_reduce(count_words, ["storage/rk/a.txt", "storage/rk/a.txt"], merge, obj_chunk_size=3000,
                             obj_reduce_by_key=True).get_result()
    assert twice == [expected(text), expected(text)]
    mixed = fexec.map_reduce(count_words, ["storage/rk/b.txt", "storage/rk/", "storage/rk/a.txt"], merge,
                             obj_chunk_number=3, obj_reduce_by_key=True).get_result()
    assert mixed == [expected(text[:2000]), expected(text), expected(text[:2000]), expected(text)]


def test_raw_byte_chunks_without_newline(fexec, storage):
    storage.put_object(storage.bucket, "raw.bin", bytes(range(256)) * 4)
    parts = fexec.map(lambda obj: obj.data_stream.read(), ["storage/raw.bin"], obj_chunk_size=100,
                      obj_newline=None).get_result()
    assert all(len(p) == 100 for p in parts[:-1]) and b"".join(parts) == bytes(range(256)) * 4


def test_local_files_and_folders(fexec, tmp_path, text):
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "a.txt").write_text(text)
    (folder / "b.txt").write_text(text[:500])
    assert fexec.map_reduce(count_words, [str(folder)], merge, obj_chunk_number=3).get_result() == expected(
        text, text[:500])
    assert fexec.map_reduce(count_words, [f"file://{folder}/a.txt"], merge).get_result() == expected(text)


def test_urls_with_ranges(fexec, http_files, text):
    files, base = http_files
    files["/t.txt"] = text.encode()
    result = fexec.map_reduce(count_words, [f"{base}/t.txt"], merge, obj_chunk_size=4096).get_result()
    assert result == expected(text)
    assert len(fexec.futures) > 2


def test_url_parameter_form(fexec, http_files):
    files, base = http_files
    files["/u.txt"] = b"one two\nthree\n"

    def lines(url):
        return url.url, url.data_stream.read().count(b"\n")

    assert fexec.map(lines, [f"{base}/u.txt"]).get_result() == [(f"{base}/u.txt", 2)]


@pytest.mark.parametrize(
    ("inputs", "options", "error", "pattern"),
    [
        ("storage/nothing/", {}, PartitionError, r"no objects under localhost://storage/nothing/"),
        ("storage/missing.txt", {}, StorageNoSuchKeyError, r"missing\.txt"),
        ("storage/k/", {"obj_chunk_size": 0}, PartitionError, r"obj_chunk_size must be a positive"),
        ("storage/k/", {"obj_chunk_size": 10, "obj_chunk_number": 2}, PartitionError, "not both"),
        ("ftp://bucket/key", {}, PartitionError, "unknown scheme"),
        ("/no/such/local/file", {}, PartitionError, "no such file or folder"),
    ],
)
def test_bad_inputs_fail_before_any_call(fexec, storage, inputs, options, error, pattern):
    storage.put_object(storage.bucket, "k/data.csv", b"x")
    with pytest.raises(error, match=pattern):
        fexec.map(describe, inputs, **options)
    assert fexec.futures == []


def test_bad_urls_fail_before_any_call(fexec, http_files):
    files, base = http_files
    files["/norange/x.txt"] = b"abc\n"
    with pytest.raises(PartitionError, match=r"answered HTTP 404"):
        fexec.map(count_words, [f"{base}/missing.txt"])
    assert fexec.map(count_words, [f"{base}/norange/x.txt"]).get_result() == [({"abc": 1}, 1)]
    assert fexec.futures[-1].done and not fexec.futures[-1].error


def test_urls_without_ranges_are_processed_whole_with_a_warning(fexec, http_files, text):
    """As in Lithops: chunks were asked for, but the server cannot serve byte ranges, so each such URL is one
    call on its whole content (and the URLs that can be split still are)."""
    files, base = http_files
    files["/norange/a.txt"] = text.encode()
    files["/nolength/b.txt"] = text[:3000].encode()
    files["/c.txt"] = text.encode()
    with pytest.warns(UserWarning, match="does not serve byte ranges") as caught:
        futures = fexec.map(describe_url, [f"{base}/norange/a.txt", f"{base}/nolength/b.txt", f"{base}/c.txt"],
                            obj_chunk_size=20_000)
    warned = [str(w.message) for w in caught if "byte ranges" in str(w.message)]
    assert [message.split(" ")[0] for message in warned] == [f"{base}/norange/a.txt", f"{base}/nolength/b.txt"]
    described = futures.get_result()
    size = len(text.encode())
    assert described[:2] == [(f"{base}/norange/a.txt", 1, 1, (0, size - 1), expected(text)),
                             (f"{base}/nolength/b.txt", 1, 1, None, expected(text[:3000]))]
    assert len(described) == 2 + -(-size // 20_000)
    with pytest.warns(UserWarning, match="byte ranges"):
        total = fexec.map_reduce(count_words, [f"{base}/norange/a.txt", f"{base}/c.txt"], merge,
                                 obj_chunk_number=4).get_result()
    assert total == expected(text, text)


def describe_url(obj):
    return obj.url, obj.part, obj.total_parts, obj.data_byte_range, count_words(obj)


def test_functions_with_obj_that_take_plain_values_are_left_alone(fexec):
    assert fexec.map(lambda obj: obj * 2, [1, 2]).get_result() == [2, 4]
