"""One producer for each piece of the job protocol: the payload, its per-call settings, the job key, exit texts."""

from __future__ import annotations

import os
import subprocess
import sys

from lithops.backends.helpers import describe_exit, write_all
from lithops.job.job import JobRequest, job_key


def _job() -> JobRequest:
    return JobRequest(executor_id="e1", job_id="M000", function_name="f", function=b"", call_data=[b"a", b"bc"],
                      extra_env={"K": "V"}, config={"lithops": {}}, storage_backend="m:C", func_key="fk",
                      data_key="dk", data_ranges=[(0, 1), (1, 3)])


def test_the_payload_carries_the_call_settings_and_optionally_worker_processes() -> None:
    job = _job()
    payload = job.worker_payload(["00000", "00001"])
    assert {k: payload[k] for k in job.call_settings()} == job.call_settings()
    assert "worker_processes" not in payload
    assert job.worker_payload(["00001"], worker_processes=3)["worker_processes"] == 3


def test_call_groups_merge_chunks_into_at_most_the_limit() -> None:
    job = _job()
    job.call_data = [b"x"] * 10
    assert job.call_groups(20) == [[i] for i in job.call_ids]
    groups = job.call_groups(3)
    assert [len(g) for g in groups] == [4, 3, 3] and [i for g in groups for i in g] == job.call_ids


def test_code_zips_are_the_same_bytes_for_the_same_files() -> None:
    import io
    import zipfile

    from lithops.backends.helpers import zip_modules

    def build() -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zip_modules(zf, ["cloudpickle"])
        return buf.getvalue()

    first = build()
    assert first == build()
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert "cloudpickle/__init__.py" in names and not any(n.endswith(".pyc") for n in names)


def test_one_job_key() -> None:
    assert job_key("e1", "M000") == _job().job_key == "e1-M000"


def test_exit_descriptions() -> None:
    assert describe_exit(-9) == "was killed by SIGKILL (the out-of-memory killer, or a kill -9)"
    assert describe_exit(-9, killed_hint="out of memory") == "was killed by SIGKILL (out of memory)"
    assert describe_exit(-15, during_call=False) == "was killed by SIGTERM"
    assert describe_exit(3) == "exited with code 3 (os._exit() or a crash in native code)"
    assert describe_exit(3, during_call=False) == "exited with code 3"


def test_write_all_writes_past_a_full_pipe() -> None:
    reader = subprocess.Popen([sys.executable, "-c", "import sys; print(len(sys.stdin.buffer.read()))"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert reader.stdin is not None
    write_all(reader.stdin.fileno(), os.urandom(3 * 1024 * 1024))  # several times a pipe's buffer
    reader.stdin.close()
    assert reader.stdout is not None
    out = reader.stdout.read()
    assert reader.wait(timeout=30) == 0
    assert out.strip() == str(3 * 1024 * 1024).encode()
