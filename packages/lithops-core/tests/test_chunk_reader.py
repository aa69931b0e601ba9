"""Chunk reading keeps records whole: every record is read by exactly one chunk, whatever the boundaries."""

import io
import random

import pytest

from lithops.storage.chunks import LineChunkReader, stream_start


def read_chunks(data, chunk_size, sep, buffer_size):
    out = []
    for start in range(0, len(data), chunk_size):
        end = min(len(data), start + chunk_size) - 1
        raw = io.BytesIO(data[stream_start(start, sep):])
        reader = io.BufferedReader(LineChunkReader(raw, start, end, sep), buffer_size=buffer_size)
        out.append(reader.read())
    return out


@pytest.mark.parametrize("sep", [b"\n", b"\r\n", b"<rec>"])
def test_random_records_and_boundaries(sep):
    rnd = random.Random(42)
    for _ in range(1500):
        alphabet = b"xyz\r\n<rec>"
        records = [bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12))).replace(sep, b"")
                   for _ in range(rnd.randint(1, 20))]
        data = sep.join(records) + (sep if rnd.random() < 0.5 else b"")
        if not data:
            continue
        chunk_size = rnd.randint(1, len(data) + 3)
        chunks = read_chunks(data, chunk_size, sep, rnd.choice([1, 2, 3, 8192]))
        assert b"".join(chunks) == data
        nonempty = [c for c in chunks if c]
        assert all(c.endswith(sep) for c in nonempty[:-1])


def test_exact_bytes_without_separator():
    data = bytes(range(256)) * 3
    for size in (1, 7, 100, 1000):
        assert b"".join(read_chunks(data, size, None, 8192)) == data


def test_a_record_longer_than_the_chunk_goes_to_the_chunk_where_it_starts():
    data = b"short\n" + b"L" * 50 + b"\nend\n"
    assert read_chunks(data, 10, b"\n", 8192) == [b"short\n" + b"L" * 50 + b"\n", b"", b"", b"", b"", b"end\n", b""]
