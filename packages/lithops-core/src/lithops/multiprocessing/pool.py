"""``Pool``: the standard library's process pool API on a :class:`lithops.FunctionExecutor`.

``apply_async`` is one ``call_async``; ``map``/``starmap``/``imap``/``imap_unordered`` split the input into
chunks (the standard library's default size for ``map``: about four chunks per process) and run one ``map``
call per chunk. Results come back through the executor's futures; one thread per pool hands finished futures
to their ``AsyncResult``s (and runs ``callback``/``error_callback``), so results and callbacks arrive while
the caller does something else, as with the standard library.

Each chunk carries the ``initializer``: a worker runs it before the first task of this pool it gets (before the
first task of each job when the initializer is defined in ``__main__``, whose globals travel with the job).
"""

from __future__ import annotations

import inspect
import itertools
import linecache
import logging
import multiprocessing
import multiprocessing.pool
import queue
import sys
import threading
import types
import uuid
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from multiprocessing.pool import ThreadPool  # noqa: F401 - threads of this process, as in the standard library
from typing import Any

from lithops.errors import SerializationError
from lithops.futures import ResponseFuture
from lithops.job.status import RemoteTraceback as KernelRemoteTraceback

logger = logging.getLogger(__name__)

#: ``map`` splits its input into about this many chunks per worker process when ``chunksize`` is not given.
CHUNKS_PER_PROCESS = 4
#: ``imap`` reads ahead of the results at most this many chunks per worker process (an endless input would
#: otherwise be submitted as fast as it can be read).
READ_AHEAD_PER_PROCESS = 64

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"

#: Pools whose initializer already ran in this worker (initializers importable by module name).
_initialized: set[str] = set()


# -- what runs in the workers -------------------------------------------------------------------------------
def _source_of(func: Callable[..., Any]) -> tuple[str, int, list[str]] | None:
    """Where a function defined in ``__main__`` comes from: its file, first line and source lines. Such a
    function travels by value, and the copy's code is named ``<dynamic-code>``: this lets tracebacks from the
    worker show its file and source lines again.
    """
    code = getattr(func, "__code__", None)
    if code is None or getattr(func, "__module__", None) != "__main__":
        return None
    try:
        lines, start = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None
    return code.co_filename, max(start, 1), lines


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(_renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _restore_source(func: Any, filename: str, start: int, lines: list[str]) -> None:
    """Give a function received by value its file name back, and its source lines when the file is not here."""
    code = getattr(func, "__code__", None)
    if code is None or code.co_filename == filename:
        return
    func.__code__ = _renamed(code, filename)
    if not linecache.getlines(filename):
        linecache.cache[filename] = (0, None, [""] * (start - 1) + lines, filename)


class _Task:
    """The function a pool ships to workers: applies the user function to one call's or one chunk's input."""

    def __init__(self, func: Callable[..., Any], mode: str, initializer: Callable[..., Any] | None,
                 initargs: tuple[Any, ...], pool_id: str) -> None:
        self.func = func
        self.mode = mode
        # the name the executor records for the job (``lithops job list``, logs): the user's function's
        self.__qualname__ = getattr(func, "__qualname__", None) or type(func).__qualname__
        self.source = _source_of(func)
        self.initializer = initializer
        self.initargs = initargs
        self.pool_id = pool_id
        self._ready = False
        from lithops.multiprocessing.process import parent_info

        self.parent = parent_info()  # the parent a task sees (parent_process(), authkey, logger level)

    def _initialize(self) -> None:
        init = self.initializer
        if init is None or self._ready:
            return
        module = sys.modules.get(getattr(init, "__module__", None) or "")
        by_name = module is not None and getattr(init, "__globals__", None) is vars(module)
        if by_name and self.pool_id in _initialized:
            self._ready = True
            return
        init(*self.initargs)
        self._ready = True
        if by_name:
            _initialized.add(self.pool_id)

    def __call__(self, payload: Any) -> Any:
        from lithops.multiprocessing.process import enter_child, leave_child, pool_worker, set_current

        saved = enter_child(self.parent)
        previous = set_current(pool_worker(self.parent["authkey"]))
        if self.source is not None:
            _restore_source(self.func, *self.source)
        try:
            self._initialize()
            func = self.func
            if self.mode == "apply":
                args, kwds = payload
                return func(*args, **kwds)
            if self.mode == "starmap":
                return [func(*args) for args in payload]
            return [func(x) for x in payload]
        finally:
            set_current(previous)
            leave_child(saved)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass


# -- delivering results -------------------------------------------------------------------------------------
class _Watcher:
    """Hands each finished future to its callback, in a thread of its own: callbacks may be slow (they run the
    user's ``callback``/``error_callback``) and must not hold up the thread that records the calls' outcomes.
    """

    def __init__(self, executor: Any = None, renew: Callable[[], Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._pending: dict[ResponseFuture, Callable[[ResponseFuture], None]] = {}
        self._finished: queue.SimpleQueue[ResponseFuture] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: The executor tasks are submitted to; replaced by ``renew()`` whenever nothing is pending, so the
        #: futures it keeps (with every argument and result) go away once delivered, as the standard library's
        #: pool keeps nothing of a finished map.
        self.executor = executor
        self._renew = renew
        #: Held while submitting to :attr:`executor` and adding the futures here (so it is not replaced between).
        self.submit_lock = threading.RLock()

    def add(self, pairs: Iterable[tuple[ResponseFuture, Callable[[ResponseFuture], None]]]) -> None:
        """Watch futures; each callback gets its future once it finished."""
        pairs = list(pairs)
        with self._lock:
            self._pending.update(pairs)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lithops-mp-pool-results", daemon=True)
                self._thread.start()
        for future, _ in pairs:
            future.add_done_callback(self._finished.put)  # runs in the kernel's thread: only queues the future

    def pending(self) -> list[ResponseFuture]:
        """The futures not finished yet."""
        with self._lock:
            return list(self._pending)

    def stop(self) -> None:
        """End the thread once nothing is pending."""
        with self._lock:
            self._stopping = True

    def _run(self) -> None:
        while True:
            try:
                future = self._finished.get(timeout=1.0)
            except queue.Empty:
                with self._lock:
                    if self._stopping and not self._pending:
                        self._thread = None
                        return
                continue
            with self._lock:
                callback = self._pending.pop(future, None)
            if callback is None:
                continue
            try:
                callback(future)
            except Exception:  # a user callback failed; the standard library would lose its handler thread
                logger.exception("lithops.multiprocessing: a Pool result callback raised")
            del future, callback  # keep no result alive while waiting for the next
            self._forget_delivered()

    def _forget_delivered(self) -> None:
        """Replace the executor once nothing is pending (its finished futures then go with it)."""
        if self._renew is None:
            return
        with self.submit_lock:
            with self._lock:
                if self._pending or self._stopping:
                    return
            old, self.executor = self.executor, self._renew()
        old.close()


_watcher: _Watcher | None = None
_watcher_lock = threading.Lock()


def as_pickling_error(exc: SerializationError) -> BaseException:
    """The error the standard library would raise for an argument that cannot be pickled: the pickler's own
    exception type (``TypeError``, ``pickle.PicklingError`` ...) with Lithops's message naming the culprit, and
    the :class:`SerializationError` as its cause.
    """
    original: BaseException | None = exc.__context__
    while isinstance(original, SerializationError):
        original = original.__context__
    if original is None:
        return exc
    try:
        error = type(original)(str(exc))
    except Exception:  # an exception type that needs other arguments
        return exc
    error.__cause__ = exc
    return error


def watch_future(future: ResponseFuture, callback: Callable[[ResponseFuture], None]) -> None:
    """Call ``callback(future)`` from a background thread once ``future`` has finished."""
    global _watcher
    with _watcher_lock:
        if _watcher is None:
            _watcher = _Watcher()
    _watcher.add([(future, callback)])


#: The cause of an exception re-raised from a task: the worker's traceback (the standard library's class).
RemoteTraceback: type[Exception] = multiprocessing.pool.RemoteTraceback  # type: ignore[attr-defined]


def _outcome(future: ResponseFuture) -> tuple[bool, Any]:
    try:
        if future.error:
            exc = future.exception()
            if isinstance(exc, BaseException) and isinstance(exc.__cause__, KernelRemoteTraceback):
                # what code written for multiprocessing checks, with the text the standard library gives it
                exc.__cause__ = RemoteTraceback(f'\n"""\n{exc.__cause__.tb}"""')
            return False, exc
        return True, future.result()
    except BaseException as exc:
        return False, exc


class ApplyResult:
    """The result of ``apply_async`` (also the base of ``map_async``'s): ``get``, ``wait``, ``ready``,
    ``successful``.
    """

    def __init__(self, cache: set[ApplyResult], callback: Callable[[Any], Any] | None,
                 error_callback: Callable[[BaseException], Any] | None, keep: Any = None) -> None:
        self._event = threading.Event()
        self._success = False
        self._value: Any = None
        self._callback = callback
        self._error_callback = error_callback
        self._keep = keep  # the arguments: shared objects among them stay alive until the task is done
        self._cache = cache
        cache.add(self)

    def ready(self) -> bool:
        """Whether the call has finished."""
        return self._event.is_set()

    def successful(self) -> bool:
        """Whether the call finished without raising; ValueError if it has not finished."""
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._success

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the result is ready or ``timeout`` seconds pass."""
        self._event.wait(timeout)

    def get(self, timeout: float | None = None) -> Any:
        """The result; re-raises the call's exception; ``multiprocessing.TimeoutError`` after ``timeout``."""
        self.wait(timeout)
        if not self.ready():
            raise multiprocessing.TimeoutError
        if self._success:
            return self._value
        raise self._value

    def _set(self, success: bool, value: Any) -> None:
        self._success, self._value = success, value
        try:
            if success and self._callback is not None:
                self._callback(value)
            if not success and self._error_callback is not None:
                self._error_callback(value)
        finally:
            self._keep = None
            self._event.set()
            self._cache.discard(self)

    def _on_future(self, future: ResponseFuture) -> None:
        self._set(*_outcome(future))


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """The result of ``map_async``/``starmap_async``: the list of results, or the first chunk's exception."""

    def __init__(self, cache: set[ApplyResult], chunks: int, callback: Callable[[Any], Any] | None,
                 error_callback: Callable[[BaseException], Any] | None, keep: Any = None) -> None:
        super().__init__(cache, callback, error_callback, keep)
        self._chunks: list[Any] = [None] * chunks
        self._left = chunks
        if chunks == 0:  # as the standard library: ready at once, no callback
            self._success, self._value = True, []
            self._event.set()
            cache.discard(self)

    def _on_chunk(self, index: int, future: ResponseFuture) -> None:
        if self.ready():
            return
        success, value = _outcome(future)
        if not success:
            self._set(False, value)
            return
        self._chunks[index] = value
        self._left -= 1
        if self._left == 0:
            self._set(True, [item for chunk in self._chunks for item in chunk])


class IMapIterator:
    """The iterator ``imap`` returns: results in input order (``imap_unordered``: as they arrive).

    ``next(timeout)`` raises ``multiprocessing.TimeoutError`` when no result comes in time. The number of chunks
    is known once the input has been read (in the background for iterators).
    """

    def __init__(self, cache: set[Any], chunks: int | None, ordered: bool, keep: Any = None) -> None:
        self._cond = threading.Condition()
        self._ordered = ordered
        self._chunks = chunks
        self._arrived: dict[int, tuple[bool, Any]] = {}
        self._queue: deque[tuple[bool, Any]] = deque()
        self._next_chunk = 0
        self._taken = 0
        self._items: deque[Any] = deque()
        self._keep: list[Any] | None = [keep] if keep is not None else []
        self._cache = cache
        cache.add(self)
        self._check_done()

    def _check_done(self) -> None:
        """Called with the condition held (or before the iterator is shared)."""
        if self._chunks is not None and len(self._arrived) + len(self._queue) + self._taken >= self._chunks:
            self._keep = None
            self._cache.discard(self)

    def _add_outcome(self, index: int, outcome: tuple[bool, Any]) -> None:
        with self._cond:
            if self._ordered:
                self._arrived[index] = outcome
            else:
                self._queue.append(outcome)
            self._check_done()
            self._cond.notify_all()

    def _on_chunk(self, index: int, future: ResponseFuture) -> None:
        self._add_outcome(index, _outcome(future))

    def _keep_chunk(self, chunk: Any) -> None:
        with self._cond:
            if self._keep is not None:
                self._keep.append(chunk)

    def _set_length(self, chunks: int) -> None:
        with self._cond:
            self._chunks = chunks
            self._check_done()
            self._cond.notify_all()

    def _take_chunk(self) -> tuple[bool, Any] | None:
        if self._ordered:
            return self._arrived.pop(self._next_chunk, None)
        return self._queue.popleft() if self._queue else None

    def __iter__(self) -> IMapIterator:
        return self

    def next(self, timeout: float | None = None) -> Any:
        """The next result, waiting up to ``timeout`` seconds (None: for ever)."""
        with self._cond:
            while not self._items:
                if self._chunks is not None and self._taken >= self._chunks:
                    raise StopIteration
                outcome = self._take_chunk()
                if outcome is None:
                    if not self._cond.wait(timeout):
                        raise multiprocessing.TimeoutError
                    continue
                self._taken += 1
                self._next_chunk += 1
                success, value = outcome
                if not success:
                    raise value
                self._items.extend(value)
            return self._items.popleft()

    __next__ = next

    def ready(self) -> bool:
        """Whether every chunk has arrived."""
        with self._cond:
            return self._chunks is not None and len(self._arrived) + len(self._queue) + self._taken >= self._chunks


class _Feeder:
    """Reads an ``imap`` input in the background, as the standard library's task handler does: one thread
    reads chunks (the input may be slow or endless), another submits what has been read, all of it in one job
    each time, so a fast input is not sent one call per job.
    """

    def __init__(self, pool: Pool, task: _Task, items: Iterator[Any], chunksize: int,
                 iterator: IMapIterator) -> None:
        self._pool, self._task, self._items, self._chunksize = pool, task, items, chunksize
        self._iterator = iterator
        self._cond = threading.Condition()
        self._read: list[list[Any]] = []
        self._count = 0  # chunks read so far
        self._done = 0  # chunks whose result arrived
        self._limit = READ_AHEAD_PER_PROCESS * pool._processes
        self._finished = False
        self.threads = [threading.Thread(target=self._read_input, name="lithops-mp-imap-reader", daemon=True),
                        threading.Thread(target=self._submit, name="lithops-mp-imap-submitter", daemon=True)]
        for thread in self.threads:
            thread.start()

    def _read_input(self) -> None:
        failure: tuple[int, BaseException] | None = None
        try:
            while self._pool._state != TERMINATE:
                with self._cond:
                    while self._count - self._done >= self._limit and self._pool._state != TERMINATE:
                        self._cond.wait(1.0)
                chunk = list(itertools.islice(self._items, self._chunksize))
                if not chunk:
                    break
                with self._cond:
                    self._read.append(chunk)
                    self._count += 1
                    self._cond.notify_all()
        except Exception as exc:  # the input raised: the result at this position raises it
            with self._cond:
                failure = (self._count, exc)
                self._count += 1
        with self._cond:
            self._finished = True
            self._cond.notify_all()
        if failure is not None:
            index, error = failure
            self._iterator._add_outcome(index, (False, error))

    def _on_chunk(self, index: int, future: ResponseFuture) -> None:
        self._iterator._on_chunk(index, future)
        with self._cond:
            self._done += 1
            self._cond.notify_all()

    def _submit(self) -> None:
        submitted = 0
        while True:
            with self._cond:
                while not self._read and not self._finished:
                    self._cond.wait()
                batch, self._read = self._read, []
                finished, total = self._finished, self._count
            if batch and self._pool._state != TERMINATE:
                for chunk in batch:
                    self._iterator._keep_chunk(chunk)
                watcher = self._pool._watcher
                with watcher.submit_lock:
                    try:
                        futures = watcher.executor.map(self._task, [(chunk,) for chunk in batch],
                                                       extra_env=self._pool._env)
                    except Exception as exc:  # the executor refused (released by terminate, unpicklable input)
                        for i in range(len(batch)):
                            self._iterator._add_outcome(
                                submitted + i,
                                (False, as_pickling_error(exc) if isinstance(exc, SerializationError) else exc))
                    else:
                        watcher.add((f, partial(self._on_chunk, submitted + i)) for i, f in enumerate(futures))
                submitted += len(batch)
            if finished and not self._read:
                self._iterator._set_length(total)
                return


IMapUnorderedIterator = IMapIterator


# -- the pool -------------------------------------------------------------------------------------------------
def _finalize(watcher: _Watcher) -> None:
    """Cancel what is still running, release the executor and stop the result thread."""
    watcher.stop()
    with watcher.submit_lock:
        executor = watcher.executor
    try:
        pending = watcher.pending()
        if pending:
            executor.clean(fs=pending, force=True)
        executor.close()
    except Exception:  # at interpreter exit the backend may be gone already
        pass


class Pool:
    """A pool of ``processes`` workers of the configured Lithops backend, with the standard library's API.

    Args:
        processes: number of concurrent calls (default: :func:`lithops.multiprocessing.cpu_count`).
        initializer: called with ``initargs`` in each worker before it runs this pool's tasks.
        initargs: arguments of ``initializer``.
        maxtasksperchild: accepted for compatibility (warm workers are reused).
        context: accepted for compatibility.
    """

    def __init__(self, processes: int | None = None, initializer: Callable[..., Any] | None = None,
                 initargs: Iterable[Any] = (), maxtasksperchild: int | None = None, context: Any = None) -> None:
        from lithops.multiprocessing.context import get_runtime

        self._state = TERMINATE  # until fully set up, so a failed __init__ leaves nothing running
        runtime = get_runtime()
        if processes is None:
            processes = runtime.cpu_count()
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._processes = processes
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._id = uuid.uuid4().hex
        self._env = runtime.worker_env()
        self._cache: set[Any] = set()
        self._feeders: list[threading.Thread] = []
        self._watcher = _Watcher(runtime.pool_executor(processes), partial(runtime.new_executor, processes))
        self._finalizer = weakref.finalize(self, _finalize, self._watcher)
        self._state = RUN

    # -- submitting ----------------------------------------------------------------------------------------
    def _check_running(self) -> None:
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _task(self, func: Callable[..., Any], mode: str) -> _Task:
        return _Task(func, mode, self._initializer, self._initargs, self._id)

    def apply_async(self, func: Callable[..., Any], args: Iterable[Any] = (), kwds: dict[str, Any] | None = None,
                    callback: Callable[[Any], Any] | None = None,
                    error_callback: Callable[[BaseException], Any] | None = None) -> ApplyResult:
        """Run ``func(*args, **kwds)`` in a worker; return its :class:`AsyncResult` at once."""
        self._check_running()
        payload = (tuple(args), dict(kwds or {}))
        result = ApplyResult(self._cache, callback, error_callback, keep=payload)
        with self._watcher.submit_lock:
            try:
                future = self._watcher.executor.call_async(self._task(func, "apply"), (payload,),
                                                           extra_env=self._env)
            except SerializationError as exc:  # as the standard library: get() raises it, error_callback gets it
                result._set(False, as_pickling_error(exc))
                return result
            self._watcher.add([(future, result._on_future)])
        return result

    def apply(self, func: Callable[..., Any], args: Iterable[Any] = (), kwds: dict[str, Any] | None = None) -> Any:
        """Run ``func(*args, **kwds)`` in a worker and return its result."""
        return self.apply_async(func, args, kwds).get()

    def _default_chunksize(self, n: int) -> int:
        chunksize, extra = divmod(n, self._processes * CHUNKS_PER_PROCESS)
        return chunksize + 1 if extra else max(chunksize, 1)

    def _submit_chunks(self, func: Callable[..., Any], iterable: Iterable[Any], mode: str,
                       chunksize: int | None) -> tuple[list[Any], list[ResponseFuture]]:
        self._check_running()
        items = list(iterable)
        if chunksize is None:
            chunksize = self._default_chunksize(len(items))
        elif chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize}")
        chunks = [items[i:i + chunksize] for i in range(0, len(items), chunksize)]
        if not chunks:
            return items, []
        futures = self._watcher.executor.map(self._task(func, mode), [(chunk,) for chunk in chunks],
                                             extra_env=self._env)
        return items, list(futures)

    def _map_async(self, func: Callable[..., Any], iterable: Iterable[Any], mode: str, chunksize: int | None,
                   callback: Callable[[Any], Any] | None,
                   error_callback: Callable[[BaseException], Any] | None) -> MapResult:
        with self._watcher.submit_lock:
            try:
                items, futures = self._submit_chunks(func, iterable, mode, chunksize)
            except SerializationError as exc:  # as the standard library: get() raises it, error_callback gets it
                failed = MapResult(self._cache, 1, callback, error_callback)
                failed._set(False, as_pickling_error(exc))
                return failed
            result = MapResult(self._cache, len(futures), callback, error_callback, keep=items)
            self._watcher.add((f, partial(result._on_chunk, i)) for i, f in enumerate(futures))
        return result

    def map_async(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None,
                  callback: Callable[[Any], Any] | None = None,
                  error_callback: Callable[[BaseException], Any] | None = None) -> MapResult:
        """``func`` applied to every element, asynchronously: an AsyncResult whose ``get()`` is the list."""
        return self._map_async(func, iterable, "map", chunksize, callback, error_callback)

    def map(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None) -> list[Any]:
        """``[func(x) for x in iterable]``, computed in the workers; the first exception is raised."""
        return self.map_async(func, iterable, chunksize).get()  # type: ignore[no-any-return]

    def starmap_async(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]], chunksize: int | None = None,
                      callback: Callable[[Any], Any] | None = None,
                      error_callback: Callable[[BaseException], Any] | None = None) -> MapResult:
        """Like :meth:`map_async` with each element unpacked as the arguments."""
        return self._map_async(func, [tuple(args) for args in iterable], "starmap", chunksize, callback,
                               error_callback)

    def starmap(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                chunksize: int | None = None) -> list[Any]:
        """``[func(*args) for args in iterable]``, computed in the workers."""
        return self.starmap_async(func, iterable, chunksize).get()  # type: ignore[no-any-return]

    def _imap(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int,
              ordered: bool) -> IMapIterator:
        if isinstance(iterable, (list, tuple, range)):  # nothing to read lazily: submit every chunk now
            with self._watcher.submit_lock:
                try:
                    items, futures = self._submit_chunks(func, iterable, "map", chunksize)
                except SerializationError as exc:  # raised by next(), as the standard library does
                    iterator = IMapIterator(self._cache, 1, ordered)
                    iterator._add_outcome(0, (False, as_pickling_error(exc)))
                    return iterator
                iterator = IMapIterator(self._cache, len(futures), ordered, keep=items)
                self._watcher.add((f, partial(iterator._on_chunk, i)) for i, f in enumerate(futures))
            return iterator
        self._check_running()
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize}")
        iterator = IMapIterator(self._cache, None, ordered)
        feeder = _Feeder(self, self._task(func, "map"), iter(iterable), chunksize, iterator)
        self._feeders.extend(feeder.threads)
        return iterator

    def imap(self, func: Callable[[Any], Any], iterable: Iterable[Any],
             chunksize: int | None = None) -> Iterator[Any]:
        """An iterator over ``func(x)`` for each element, in order, each as soon as it (and those before it)
        finished. ``chunksize`` defaults to None as in Lithops, meaning one element per call (the standard
        library's default of 1).
        """
        return self._imap(func, iterable, 1 if chunksize is None else chunksize, ordered=True)

    def imap_unordered(self, func: Callable[[Any], Any], iterable: Iterable[Any],
                       chunksize: int | None = None) -> Iterator[Any]:
        """An iterator over ``func(x)`` for each element, in the order the results arrive (``chunksize`` as in
        :meth:`imap`).
        """
        return self._imap(func, iterable, 1 if chunksize is None else chunksize, ordered=False)

    # -- life cycle ----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Accept no more tasks; the submitted ones keep running (``join`` waits for them)."""
        if self._state == RUN:
            self._state = CLOSE

    def terminate(self) -> None:
        """Cancel unfinished tasks (their results raise ``JobCancelledError``) and release the workers."""
        self._state = TERMINATE
        self._finalizer()

    def join(self) -> None:
        """Wait for every submitted task (and its callback) after ``close()`` or ``terminate()``, including the
        other tasks of a ``map`` that already failed, and for ``imap`` inputs to be read.
        """
        if self._state == RUN:
            raise ValueError("Pool is still running")
        for thread in list(self._feeders):
            thread.join()
        pending = self._watcher.pending()
        if pending:
            from lithops.wait import wait

            wait(pending, throw_except=False, show_progressbar=False)
        for result in list(self._cache):
            if isinstance(result, ApplyResult):
                result.wait()
            else:
                with result._cond:
                    while not result.ready():
                        result._cond.wait()
        self._finalizer()

    @property
    def _executor(self) -> Any:
        """The executor tasks are submitted to now (renewed when nothing is pending)."""
        return self._watcher.executor

    def __enter__(self) -> Pool:
        self._check_running()
        return self

    def __del__(self, _warn: Callable[..., None] = warnings.warn, RUN: str = RUN) -> None:
        if getattr(self, "_state", None) == RUN:
            _warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning, source=self)

    def __exit__(self, *exc: Any) -> None:
        self.terminate()

    def __reduce__(self) -> Any:
        raise NotImplementedError("pool objects cannot be passed between processes or pickled")

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} state={self._state} pool_size={self._processes}>"
