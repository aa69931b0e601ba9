"""Registration catches a plugin author's mistakes early, names the plugin and the fix; the plugin API version;
the extension points (cross-key config rules); the helpers the kernel gives backends."""

import inspect
import io
import threading
import time
from importlib.metadata import EntryPoint

import pytest

from lithops.backends import ComputeBackend, RuntimeBuilder, StorageBackend
from lithops.backends.helpers import (
    DaemonThreads,
    body_bytes,
    body_stream,
    parse_byte_range,
    report_failed,
    request_body,
)
from lithops.config import default_config
from lithops.errors import ConfigError, PluginLoadError
from lithops.job.status import CallStatus, decode_exception
from lithops.plugins import PLUGIN_API
from lithops.plugins.manager import PluginRegistry, reset_registry


def _registry(name, module):
    registry = PluginRegistry()
    registry.load_entry_points([EntryPoint(name=name, value=module, group="lithops")])
    return registry


def test_a_misspelt_hook_is_reported_with_the_right_name():
    error = _registry("lithops-typo", "typo_hook_plugin").plugins["lithops-typo"].error
    assert "lithops_compute_backend() is not a Lithops hook" in error, error
    assert "Did you mean lithops_compute_backends?" in error, error


def test_a_hook_without_hookimpl_is_reported():
    error = _registry("lithops-typo", "typo_hook_plugin").plugins["lithops-typo"].error
    assert "lithops_storage_backends() is not decorated with @hookimpl" in error, error


def test_a_plugin_for_a_newer_api_is_refused_with_the_install_command():
    registry = _registry("lithops-future", "future_api_plugin")
    error = registry.plugins["lithops-future"].error
    assert "plugin API '2'" in error and "pip install --upgrade lithops-core" in error, error
    assert registry.names("compute") == []
    with pytest.raises(Exception, match="futurecloud"):
        registry.compute_backend("futurecloud")


def test_a_plugin_that_declares_no_api_loads_as_api_1():
    registry = _registry("lithops-old", "undeclared_plugin")
    info = registry.plugins["lithops-old"]
    assert info.error is None and info.api is None
    assert registry.names("storage") == ["oldstore"]
    assert _registry("lithops-fake", "good_plugin").plugins["lithops-fake"].api == PLUGIN_API


def test_a_default_that_its_own_type_refuses_names_plugin_key_and_fix():
    error = _registry("lithops-baddefault", "bad_default_plugin").plugins["lithops-baddefault"].error
    assert "backend 'badcloud'" in error and "'max_workers' has default '4' (str)" in error, error
    assert "change the default, or the type" in error


def test_a_backend_class_of_the_wrong_kind_is_reported_when_loaded():
    registry = _registry("lithops-wrong", "wrong_class_plugin")
    with pytest.raises(PluginLoadError, match=r"notastore.*not a subclass of lithops\.backends\.storage\."
                                              r"StorageBackend: make the class subclass it"):
        registry.load_class("storage", "notastore")
    with pytest.raises(PluginLoadError, match=r"halfstore.*does not implement create_bucket, delete_object"):
        registry.load_class("storage", "halfstore")
    with pytest.raises(PluginLoadError, match=r"halfcloud.*does not implement invoke"):
        registry.load_class("compute", "halfcloud")


#: The methods a plugin must implement under plugin API 1. Adding an abstract method to a base class breaks
#: every installed plugin: give the new method a default, or bump PLUGIN_API (and this table).
REQUIRED_BY_API = {
    "1": {
        ComputeBackend: {"invoke"},
        StorageBackend: {"put_object", "get_object", "head_object", "delete_object", "head_bucket",
                         "create_bucket", "list_objects"},
        RuntimeBuilder: {"build", "deploy", "list", "delete"},
    },
}


def test_base_classes_require_what_the_plugin_api_says():
    required = REQUIRED_BY_API[PLUGIN_API]
    for base, methods in required.items():
        assert set(base.__abstractmethods__) == methods, (
            f"{base.__name__} now requires {sorted(base.__abstractmethods__)}; plugin API {PLUGIN_API} requires "
            f"{sorted(methods)}. Give a new method a default implementation, or bump PLUGIN_API.")
        assert inspect.isabstract(base)


def test_cross_key_rules_of_a_spec_join_the_other_config_problems():
    registry = _registry("lithops-ext", "extending_plugin")
    registry.load_entry_points([EntryPoint(name="lithops-fake", value="good_plugin", group="lithops")])
    reset_registry(registry)
    config = {"lithops": {"backend": "extcloud", "storage": "fakestore", "log_level": "LOUD"},
              "extcloud": {"runtime_memory": 4096}}
    with pytest.raises(ConfigError) as info:
        default_config(config)
    message = str(info.value)
    assert "2 problems" in message, message  # the per-key problem and the rule, together
    assert "section 'extcloud': runtime_memory 4096 needs runtime_cpu of at least 2" in message, message
    config["extcloud"]["runtime_cpu"] = 2
    config["lithops"].pop("log_level")
    assert default_config(config)["extcloud"] == {"runtime_memory": 4096, "runtime_cpu": 2}


# -- the helpers -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-4", (0, 5)), ("bytes=10-", (10, 16)), ("bytes=-3", (13, 16)), ("bytes=14-100", (14, 16)),
    ("bytes=20-30", (16, 16)), ("bytes=-100", (0, 16)),
])
def test_parse_byte_range(header, expected):
    assert parse_byte_range(header, 16) == expected


@pytest.mark.parametrize("header", ["bytes=", "items=0-4", "bytes=0-1,4-5", "bytes=a-b"])
def test_parse_byte_range_refuses_other_forms(header):
    with pytest.raises(ValueError, match="use 'bytes=START-END'"):
        parse_byte_range(header, 16)


def test_bodies_as_bytes_and_streams():
    for body in (b"h\xc3\xa9", "hé", bytearray(b"h\xc3\xa9"), io.BytesIO(b"h\xc3\xa9")):
        assert body_bytes(body) == b"h\xc3\xa9"
    assert body_stream("hé").read() == b"h\xc3\xa9"
    f = io.BytesIO(b"x")
    assert body_stream(f) is f


def test_report_failed_fails_every_call_of_a_payload():
    reported: list[CallStatus] = []
    report_failed(reported.append, {"executor_id": "e", "job_id": "M000", "call_ids": ["00000", "00001"]},
                  RuntimeError("no storage"))
    assert [(s.call_id, s.success) for s in reported] == [("00000", False), ("00001", False)]
    error = decode_exception(reported[0].exception)
    assert isinstance(error, RuntimeError) and str(error) == "no storage"


def test_daemon_threads_run_at_most_max_workers_and_never_block_exit():
    pool = DaemonThreads(3, name="test-daemon")
    running, peak, lock = [0], [0], threading.Lock()
    done = threading.Semaphore(0)

    def work():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        assert threading.current_thread().daemon
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        done.release()

    for _ in range(12):
        pool.submit(work)
    for _ in range(12):
        assert done.acquire(timeout=10)
    assert peak[0] == 3
    pool.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(work)


def test_a_plugin_taking_a_first_party_name_is_flagged():
    import types

    from lithops.plugins import ComputeBackendSpec, hookimpl

    module = types.ModuleType("acme_plugin")
    module.LITHOPS_PLUGIN_API = "1"
    module.lithops_compute_backends = hookimpl(lambda: [ComputeBackendSpec(
        name="aws_lambda", mode="serverless", backend="fake_backends:FakeCompute")])
    registry = PluginRegistry()
    registry.register(module, name="acme", package="acme-lithops")
    assert registry.conflicts() == [
        "compute backend 'aws_lambda' of acme-lithops takes the name of lithops-aws's backend: the two cannot be "
        "installed together. Rename it in acme-lithops."]


def test_request_bodies_of_a_real_http_server_as_bytes_and_streams():
    import http.client
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            """Quiet."""

        def do_POST(self):
            if self.path == "/stream":
                body = request_body(self.headers, self.rfile, stream=True)
                received.append(b"".join(iter(lambda: body.read(3), b"")))
            else:
                received.append(request_body(self.headers, self.rfile))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for path, body in (("/bytes", b"sized body"), ("/stream", iter([b"chun", b"ked ", b"body"])),
                           ("/bytes", iter([b"two ", b"chunks"])), ("/stream", b"")):
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
            conn.request("POST", path, body=body)
            assert conn.getresponse().status == 204
            conn.close()
    finally:
        server.shutdown()
    assert received == [b"sized body", b"chunked body", b"two chunks", b""]


def test_a_backend_declares_its_status_interval_and_the_config_overrides_it():
    import lithops

    registry = _registry("lithops-fast", "fast_plugin")
    registry.load_entry_points([EntryPoint(name="lithops-fake", value="good_plugin", group="lithops")])
    reset_registry(registry)
    fexec = lithops.FunctionExecutor(backend="fastcloud", log_level=None)
    assert fexec.monitor.interval == 0.25
    fexec = lithops.FunctionExecutor(config={"lithops": {"backend": "fastcloud", "monitoring_interval": 0.5}},
                                     log_level=None)
    assert fexec.monitor.interval == 0.5
    fexec = lithops.FunctionExecutor(backend="fakecloud", log_level=None)
    assert fexec.monitor.interval == 2  # the default when neither says
