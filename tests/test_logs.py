"""What calls print is captured per call and read back with future.logs(), whatever happened to the call."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import lithops
from lithops.errors import FunctionTimeoutError, WorkerDiedError
from lithops.futures import ResponseFuture
from lithops.job import serialize
from lithops.monitor import JobMonitor
from lithops.worker.calls import CallRunner


def chatty(x):
    print(f"stdout of call {x}")
    print(f"stderr of call {x}", file=sys.stderr)
    os.write(1, f"fd 1 of call {x}\n".encode())
    subprocess.run(["echo", f"subprocess of call {x}"], check=True)
    return x


def c_printf(x):
    import ctypes

    ctypes.CDLL(None).printf(b"printf of call %d\n", x)  # C stdio, buffered in the C library
    return x


def quiet(x):
    return x


def killed(x):
    print("last words", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def failing(x):
    print("about to fail")
    raise ValueError("failed on purpose")


def overstays(x):
    print("going to sleep")
    time.sleep(30)


def loud(n):
    for i in range(n):
        print(f"line {i:06d} " + "y" * 80)
    return n


def test_stdout_stderr_fd_and_subprocess_output_of_each_call(fexec):
    futures = fexec.map(chatty, [1, 2, 3])
    assert fexec.get_result(futures) == [1, 2, 3]
    for i, f in enumerate(futures, start=1):
        assert f.logs() == (f"stdout of call {i}\nstderr of call {i}\nfd 1 of call {i}\nsubprocess of call {i}\n")


def test_c_library_output_is_flushed_into_the_call(fexec):
    futures = fexec.map(c_printf, [7, 8])
    fexec.get_result(futures)
    assert [f.logs() for f in futures] == ["printf of call 7\n", "printf of call 8\n"]


def test_a_call_that_printed_nothing_has_empty_logs(fexec):
    future = fexec.call_async(quiet, 1)
    assert future.result() == 1
    assert future.logs() == ""


def test_a_failed_call_keeps_its_output(fexec):
    future = fexec.call_async(failing, 1)
    with pytest.raises(ValueError):
        future.result()
    assert future.logs() == "about to fail\n"


def test_a_killed_call_keeps_what_it_printed_before_dying(fexec):
    future = fexec.call_async(killed, 1)
    with pytest.raises(WorkerDiedError):
        future.result()
    assert future.logs() == "last words\n"
    after = fexec.call_async(chatty, 9)  # the next call on a new worker starts with a clean log
    after.result()
    assert after.logs().startswith("stdout of call 9\n")


def test_a_timed_out_call_keeps_its_output(fexec):
    future = fexec.call_async(overstays, 1, timeout=1)
    with pytest.raises(FunctionTimeoutError):
        future.result()
    assert future.logs() == "going to sleep\n"


def test_large_output_is_kept_whole(fexec):
    future = fexec.call_async(loud, 20000)
    assert future.result() == 20000
    lines = future.logs().splitlines()
    assert len(lines) == 20000 and lines[-1].startswith("line 019999 ")


def test_logs_waits_for_the_call_and_honours_a_timeout(fexec):
    future = fexec.call_async(overstays, 1, timeout=3)
    with pytest.raises(TimeoutError):
        future.logs(timeout=0.2)
    with pytest.raises(FunctionTimeoutError):
        future.result()


DRIVER = """
import sys, lithops
def shout(x):
    print("from the worker", x)
    return x
with lithops.FunctionExecutor(log_level=None, **{extra}) as fexec:
    f = fexec.call_async(shout, 5)
    f.result()
    print("logs:", repr(f.logs()), file=sys.stderr)
"""


@pytest.mark.parametrize("echo", [True, False])
def test_output_is_echoed_to_the_client_unless_echo_output_is_off(echo, tmp_path):
    script = DRIVER.replace("{extra}", "{}" if echo else "{'echo_output': False}")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, LITHOPS_STATE_DIR=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert ("from the worker 5" in out.stdout) == echo
    assert "logs: 'from the worker 5\\n'" in out.stderr


# -- the storage transport: the worker uploads <call_id>/logs.txt next to status.json -------------------------
def test_storage_transport_uploads_logs_next_to_the_status(sim_config):
    with lithops.FunctionExecutor(config=sim_config, log_level=None) as fexec:
        loud_f, quiet_f = fexec.call_async(chatty, 4), fexec.call_async(quiet, 5)
        fexec.wait([loud_f, quiet_f])
        storage = fexec.storage
        prefix = f"lithops.jobs/{fexec.executor_id}"
        status = json.loads(storage.get_object(storage.bucket, f"{prefix}/{loud_f.job_id}/00000/status.json"))
        assert status["logs_key"] == f"{prefix}/{loud_f.job_id}/00000/logs.txt"
        assert storage.get_object(storage.bucket, status["logs_key"]).decode() == loud_f.logs()
        quiet_status = json.loads(storage.get_object(storage.bucket,
                                                     f"{prefix}/{quiet_f.job_id}/00000/status.json"))
        assert quiet_status["logs_key"] is None
        assert storage.list_keys(storage.bucket, f"{prefix}/{quiet_f.job_id}/00000/") == [
            f"{prefix}/{quiet_f.job_id}/00000/{name}" for name in ("output.pickle", "started", "status.json")]
    # close() cleaned the job objects (data_cleaner); the client kept its copy
    assert loud_f.logs().startswith("stdout of call 4\nstderr of call 4\n")
    assert quiet_f.logs() == ""


def fd_writer(x):
    os.write(1, f"out {x}\n".encode())
    os.write(2, f"err {x}\n".encode())
    return x


def test_a_push_backend_without_a_log_folder_gets_the_output_inline():
    """CallRunner with no ``log_dir`` returns the output in the status; the monitor keeps it for logs().

    (Run here, in pytest's process, the function writes to fds 1 and 2 directly: pytest replaces sys.stdout.)
    """
    meta = {"executor_id": "inline-0", "job_id": "M000", "config": {}}
    runner = CallRunner(meta, serialize.dumps(fd_writer))
    status = runner.run("00000", serialize.dumps(((6,), {})))
    assert status.success
    assert status.logs == b"out 6\nerr 6\n"
    assert runner.run("00001", serialize.dumps(((7,), {}))).logs == b"out 7\nerr 7\n"  # the scratch is reused
    monitor = JobMonitor("inline-0")
    future = ResponseFuture("inline-0", "M000", "00000", monitor)
    monitor.register([future])
    monitor.report(status)
    assert status.logs is None  # kept on disk by the monitor, not in memory
    assert future.logs() == "out 6\nerr 6\n"
