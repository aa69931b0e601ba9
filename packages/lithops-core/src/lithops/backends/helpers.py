"""Small pieces that every backend plugin needs, written once in the kernel.

- :func:`parse_byte_range`: the ``Range`` argument of :meth:`StorageBackend.get_object` as offsets.
- :func:`body_bytes` and :func:`body_stream`: the ``body`` of :meth:`StorageBackend.put_object` (bytes, text or a
  binary file) as bytes, or as a binary file to stream from.
- :func:`request_body`: the body of an HTTP request a worker service receives (``Content-Length`` or chunked), as
  bytes or as a stream.
- :func:`failed_status` and :func:`report_failed`: fail calls with a status saying why, so the client learns at
  once instead of after the execution timeout.
- :class:`DaemonThreads`: run worker invocations on daemon threads, which never keep the interpreter from exiting.
- :func:`zip_modules`: put installed top-level modules into a code zip (Lambda code, a VM's agent bundle), the
  same installed files giving the same bytes.

Nothing here imports a cloud SDK; worker runtimes have all of it.
"""

from __future__ import annotations

import email.message
import io
import logging
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from lithops.job.status import CallStatus, encode_exception

if TYPE_CHECKING:
    import zipfile

logger = logging.getLogger(__name__)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` to file descriptor ``fd`` (``os.write`` may write less than asked); OSError passes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def describe_exit(returncode: int | None, during_call: bool = True, killed_hint: str | None = None) -> str:
    """How a worker process ended, worded to follow "the worker process": its exit code or signal.

    ``returncode`` is ``Popen.returncode``/``Process.exitcode`` (negative: the signal; None: it did not exit and
    was stopped). ``during_call`` adds the likely causes when it was running a call; ``killed_hint`` replaces
    the generic cause of a SIGKILL there (e.g. the platform's memory limit and the key that raises it).
    """
    if returncode is None:
        return "closed its connection but did not exit, and was stopped by the pool that started it"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGKILL" and during_call:
            return f"was killed by SIGKILL ({killed_hint or 'the out-of-memory killer, or a kill -9'})"
        return f"was killed by {name}"
    if during_call:
        return f"exited with code {returncode} (os._exit() or a crash in native code)"
    return f"exited with code {returncode}"


def parse_byte_range(header: str, size: int) -> tuple[int, int]:
    """Turn ``bytes=a-b`` (``b`` inclusive), ``bytes=a-`` or ``bytes=-n`` into ``(start, end)`` offsets of an
    object of ``size`` bytes, ``end`` exclusive, both clamped to the object.

    Raises:
        ValueError: another unit, several ranges, or no numbers; the message shows the accepted forms.
    """
    unit, _, spec = header.partition("=")
    first, _, last = spec.strip().partition("-")
    try:
        if unit.strip() != "bytes" or (not first and not last) or "," in spec:
            raise ValueError
        if not first:
            return max(0, size - int(last)), size
        start = min(int(first), size)
        end = min(size, int(last) + 1) if last else size
    except ValueError:
        raise ValueError(
            f"unsupported Range {header!r}: use 'bytes=START-END', 'bytes=START-' or 'bytes=-N'"
        ) from None
    return start, max(start, end)


def body_bytes(body: bytes | bytearray | memoryview | str | BinaryIO) -> bytes:
    """The whole ``body`` of a put as bytes: text is encoded as UTF-8, a file is read to its end."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    chunks = []
    while chunk := body.read(1024 * 1024):
        chunks.append(chunk)
    return b"".join(chunks)


def body_stream(body: bytes | bytearray | memoryview | str | BinaryIO) -> BinaryIO:
    """The ``body`` of a put as a readable binary file (bytes and text wrapped, a file returned as it is)."""
    if isinstance(body, str):
        return io.BytesIO(body.encode("utf-8"))
    if isinstance(body, (bytes, bytearray, memoryview)):
        return io.BytesIO(body)
    return body


class _LimitedReader(io.RawIOBase):
    """The next ``length`` bytes of ``f``, then end of file."""

    def __init__(self, f: BinaryIO | io.BufferedIOBase, length: int) -> None:
        self._f, self._left = f, length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        data = self._f.read(n) if n > 0 else b""
        buffer[:len(data)] = data
        self._left -= len(data)
        return len(data)


class _ChunkedReader(io.RawIOBase):
    """The decoded body of a ``Transfer-Encoding: chunked`` request read from ``f``."""

    def __init__(self, f: BinaryIO | io.BufferedIOBase) -> None:
        self._f, self._left, self._done = f, 0, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left == 0 and not self._done:
            size = int(self._f.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self._f.readline().strip():  # trailers, up to the empty line
                    pass
                self._done = True
            self._left = size
        if self._done:
            return 0
        data = self._f.read(min(len(buffer), self._left))
        buffer[:len(data)] = data
        self._left -= len(data)
        if self._left == 0:
            self._f.readline()  # the CRLF after the chunk
        return len(data)


def request_body(headers: Mapping[str, str] | email.message.Message, rfile: BinaryIO | io.BufferedIOBase,
                 stream: bool = False) -> bytes | BinaryIO:
    """The body of an HTTP request (``BaseHTTPRequestHandler``'s ``headers`` and ``rfile``): ``Content-Length``
    bytes or a chunked body, as bytes, or with ``stream=True`` as a binary file that ends with the body.
    """
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        reader: io.RawIOBase = _ChunkedReader(rfile)
    else:
        reader = _LimitedReader(rfile, int(headers.get("Content-Length") or 0))
    body = io.BufferedReader(reader)
    if stream:
        return body  # type: ignore[return-value]
    return body.read()


def failed_status(executor_id: str, job_id: str, call_id: str, error: BaseException,
                  stats: Mapping[str, Any] | None = None) -> CallStatus:
    """A failed :class:`CallStatus` of one call whose exception is ``error`` (re-raised by ``future.result()``)."""
    return CallStatus(executor_id, job_id, call_id, success=False, exception=encode_exception(error),
                      stats=dict(stats or {}))


def report_failed(report: Callable[[CallStatus], None], payload: Mapping[str, Any], error: BaseException,
                  call_ids: Iterable[str] | None = None) -> None:
    """Report every call of a worker payload (or just ``call_ids``) failed with ``error``.

    For a worker invocation that broke outside the calls (the payload could not be delivered, the worker
    crashed or could not reach storage): the futures fail now with ``error``, instead of after their timeout.
    ``payload`` is a :meth:`lithops.job.JobRequest.worker_payload` document (or anything with ``executor_id``,
    ``job_id`` and ``call_ids``).
    """
    for call_id in payload["call_ids"] if call_ids is None else call_ids:
        report(failed_status(payload["executor_id"], payload["job_id"], call_id, error))


class DaemonThreads:
    """Runs submitted functions on up to ``max_workers`` daemon threads, started as they are needed.

    Unlike :class:`concurrent.futures.ThreadPoolExecutor`, a call that never returns does not keep the
    interpreter from exiting. A function that raises is logged; the functions report their own outcome.
    After :meth:`shutdown`, :meth:`submit` raises RuntimeError.
    """

    def __init__(self, max_workers: int, name: str = "lithops-worker") -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self.max_workers = max_workers
        self.name = name
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on one of the threads as soon as one is free."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: cannot run new work after shutdown()")
            self._queue.put((fn, args))
            if self._queue.qsize() > self._idle and len(self._threads) < self.max_workers:
                thread = threading.Thread(target=self._run, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except BaseException:  # the thread must survive to run the next call
                logger.exception("%s: %r raised", self.name, fn)

    def shutdown(self) -> None:
        """Take no more work; the threads end once what is queued has run."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)


#: Files left out of code zips: compiled bytecode and native extensions (built for this machine, not the target's).
_NOT_ZIPPED = (".pyc", ".pyo", ".so", ".pyd", ".dylib")
#: The date of every zipped file, so the same files give the same zip bytes.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def module_files(name: str) -> list[tuple[str, str]]:
    """``(path on disk, path in a zip)`` of every source file of the installed top-level module ``name``.

    Raises:
        ImportError: the module is not installed here; the message names it.
    """
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"module {name} is not installed here, so it cannot be packaged; install it")
    if not spec.submodule_search_locations:
        assert spec.origin is not None
        return [(spec.origin, os.path.basename(spec.origin))]
    root = next(iter(spec.submodule_search_locations))
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for fname in sorted(names):
            if not fname.endswith(_NOT_ZIPPED):
                path = os.path.join(folder, fname)
                files.append((path, os.path.relpath(path, os.path.dirname(root)).replace(os.sep, "/")))
    return files


def zip_entry(zf: zipfile.ZipFile, arcname: str, data: bytes | str) -> None:
    """Write one file into ``zf`` with a fixed date and mode 0644, so the zip's bytes depend on content only."""
    import zipfile

    info = zipfile.ZipInfo(arcname, _ZIP_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def zip_modules(zf: zipfile.ZipFile, modules: Iterable[str]) -> None:
    """Write the source files of the installed top-level ``modules`` into ``zf`` (see :func:`module_files`)."""
    for module in modules:
        for path, arcname in module_files(module):
            with open(path, "rb") as f:
                zip_entry(zf, arcname, f.read())
