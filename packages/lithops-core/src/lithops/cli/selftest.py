"""``lithops test``: a real self-check of the configured compute and storage backends.

Each check runs real calls or storage operations and prints one line: ``ok``, ``FAIL`` (with the reason) or
``skip``. The command exits with 1 when any check failed. The functions below run in the workers, so they
only use what the worker runtime has (lithops-core).

Plugins add checks of their own with the ``checks`` field of their specs: import strings of functions that take
the executor and return a line of detail (or None), raise to fail, or raise :class:`SkipCheck` when the check
does not apply. They run after the built-in checks, before the clean-up.
"""

from __future__ import annotations

import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from lithops.cli.common import backend_options, debugging, log_level

TEST_PREFIX = "lithops.test"


# -- what runs in the workers -------------------------------------------------------------------------------
def _hello(name: str) -> str:
    return f"Hello {name}!"


def _square(x: int) -> int:
    return x * x


def _total(results: list[int]) -> int:
    return sum(results)


def _fail(message: str) -> None:
    raise ValueError(message)


def _say(marker: str) -> bool:
    print(marker)
    print(f"{marker} on stderr", file=sys.stderr)
    return True


def _worker_storage(key: str, storage: Any) -> bytes:
    storage.put_object(storage.bucket, key, b"written by a worker")
    data: bytes = storage.get_object(storage.bucket, key)
    return data


# -- the checks ----------------------------------------------------------------------------------------------
class SkipCheck(Exception):
    """Raised by a check that does not apply; the message says why."""


@dataclass
class _Run:
    backend: str | None
    storage_name: str | None
    timeout: float
    keep: bool
    fexec: Any = None
    prefix: str = field(default_factory=lambda: f"{TEST_PREFIX}/{uuid.uuid4().hex[:12]}")

    def need_executor(self) -> Any:
        if self.fexec is None:
            raise SkipCheck("no executor (see the first check)")
        return self.fexec


def _check_executor(run: _Run) -> str:
    from lithops.cli.common import resolved_config
    from lithops.executors import FunctionExecutor
    from lithops.plugins.manager import get_registry

    name = resolved_config(run.backend, run.storage_name)["lithops"]["backend"]
    # keep this checklist readable: backends that echo what calls print to this terminal are asked not to
    quiet: dict[str, Any] = {}
    if "echo_output" in get_registry().compute_backend(name).config:
        quiet["echo_output"] = False
    run.fexec = FunctionExecutor(backend=run.backend, storage=run.storage_name, log_level=log_level(), **quiet)
    fexec = run.fexec
    return (f"backend {fexec.backend} ({fexec.mode} mode, {fexec.compute.max_workers} workers), storage "
            f"{fexec.storage_config['backend']}")


def _check_call_async(run: _Run) -> str:
    result = run.need_executor().call_async(_hello, "Lithops").result(timeout=run.timeout)
    if result != "Hello Lithops!":
        raise AssertionError(f"call_async returned {result!r}, expected 'Hello Lithops!'")
    return ""


def _check_map(run: _Run) -> str:
    fexec = run.need_executor()
    results = fexec.map(_square, range(20)).get_result(timeout=run.timeout)
    if results != [x * x for x in range(20)]:
        raise AssertionError(f"map returned {results!r}")
    return "20 calls, results in order"


def _check_map_reduce(run: _Run) -> str:
    fexec = run.need_executor()
    result = fexec.map_reduce(_square, range(10), _total).get_result(timeout=run.timeout)
    if result != 285:
        raise AssertionError(f"map_reduce returned {result!r}, expected 285")
    return ""


def _check_exception(run: _Run) -> str:
    fexec = run.need_executor()
    future = fexec.call_async(_fail, "expected by lithops test")
    try:
        future.result(timeout=run.timeout)
    except ValueError as exc:
        if "expected by lithops test" not in str(exc):
            raise AssertionError(f"the function's ValueError came back as {exc!r}") from exc
        if "_fail" not in str(exc.__cause__):
            raise AssertionError("the worker's traceback did not come back with the exception") from exc
        return "the function's ValueError re-raised here, with the worker's traceback"
    raise AssertionError("a function that raised ValueError did not fail")


def _check_logs(run: _Run) -> str:
    fexec = run.need_executor()
    marker = f"lithops test {uuid.uuid4().hex[:8]}"
    future = fexec.call_async(_say, marker)
    future.result(timeout=run.timeout)
    output = future.logs()
    if not output:
        raise SkipCheck("this backend does not capture what calls print")
    if marker not in output:
        raise AssertionError(f"the call's captured output is {output[:200]!r}, without {marker!r}")
    return "stdout and stderr of a call read back with future.logs()"


def _check_storage(run: _Run) -> str:
    storage = run.need_executor().storage
    bucket, key = storage.bucket, f"{run.prefix}/client.txt"
    storage.put_object(bucket, key, b"lithops self-check")
    data = storage.get_object(bucket, key)
    if data != b"lithops self-check":
        raise AssertionError(f"read back {data!r} from {bucket}/{key}")
    keys = storage.list_keys(bucket, run.prefix + "/")
    if key not in keys:
        raise AssertionError(f"listing {bucket}/{run.prefix}/ gave {keys!r}, without {key!r}")
    if int(storage.head_object(bucket, key)["content-length"]) != len(data):
        raise AssertionError("head_object reports the wrong size")
    if not run.keep:
        storage.delete_object(bucket, key)
        if key in storage.list_keys(bucket, run.prefix + "/"):
            raise AssertionError(f"{bucket}/{key} is still listed after delete_object")
    return f"put, get, list, head and delete in bucket {bucket}"


def _check_worker_storage(run: _Run) -> str:
    fexec = run.need_executor()
    key = f"{run.prefix}/worker.txt"
    data = fexec.call_async(_worker_storage, key).result(timeout=run.timeout)
    client_side = fexec.storage.get_object(fexec.storage.bucket, key)
    if data != b"written by a worker" or client_side != data:
        raise AssertionError(f"a worker wrote {data!r}, the client reads {client_side!r}")
    return "an object written by a function is read here"


def _check_clean(run: _Run) -> str:
    fexec = run.need_executor()
    if run.keep:
        raise SkipCheck(f"--keep_datasets: objects left under {fexec.storage.bucket}/{run.prefix}/")
    fexec.clean()
    storage = fexec.storage
    leftover = storage.list_keys(storage.bucket, run.prefix + "/")
    if leftover:
        storage.delete_objects(storage.bucket, leftover)
    if storage.list_keys(storage.bucket, run.prefix + "/"):
        raise AssertionError(f"objects are left under {storage.bucket}/{run.prefix}/")
    return "temporary objects deleted"


CHECKS: dict[str, tuple[str, Callable[[_Run], str]]] = {
    "executor": ("create an executor", _check_executor),
    "call_async": ("one call", _check_call_async),
    "map": ("a map", _check_map),
    "map_reduce": ("a map_reduce", _check_map_reduce),
    "exception": ("an exception round trip", _check_exception),
    "logs": ("captured output", _check_logs),
    "storage": ("storage from the client", _check_storage),
    "worker_storage": ("storage from a function", _check_worker_storage),
    "clean": ("clean up", _check_clean),
}


def _plugin_checks(backend: str | None, storage: str | None) -> dict[str, tuple[str, Callable[[_Run], str]]]:
    """The checks the specs of the selected compute and storage backends add, by name."""
    from lithops.cli.common import resolved_config
    from lithops.plugins.manager import get_registry

    config = resolved_config(backend, storage)
    registry = get_registry()
    specs = [registry.compute_backend(config["lithops"]["backend"]),
             registry.storage_backend(config["lithops"]["storage"])]
    found: dict[str, tuple[str, Callable[[_Run], str]]] = {}
    for spec in specs:
        for path in spec.checks:
            name = path.rpartition(":")[2]
            found[name] = (f"{spec.name}: {name.replace('_', ' ')}"[:24], _plugin_check(path))
    return found


def _plugin_check(path: str) -> Callable[[_Run], str]:
    def run(run: _Run) -> str:
        from lithops.plugins.specs import import_object

        fexec = run.need_executor()
        return str(import_object(path)(fexec) or "")

    return run


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, AssertionError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@click.command("test")
@backend_options
@click.option("--test", "-t", "names", help=f"Comma-separated checks to run (default all): {', '.join(CHECKS)}.")
@click.option("--fail-fast", "--fail_fast", "-f", "fail_fast", is_flag=True, help="Stop at the first failure.")
@click.option("--keep-datasets", "--keep_datasets", "-k", "keep", is_flag=True,
              help="Keep the objects the checks store.")
@click.option("--timeout", default=120.0, show_default=True, type=float, help="Seconds each check may wait.")
def test(backend: str | None, storage: str | None, names: str | None, fail_fast: bool, keep: bool,
         timeout: float) -> None:
    """Check the configured backends with real calls and storage operations; exit 1 if any check fails."""
    from lithops.errors import PluginError

    try:  # a wrong config is the one-line error every command gives; a missing backend is the first check's FAIL
        extra = _plugin_checks(backend, storage)
    except PluginError:
        extra = {}
    checks = {**{k: v for k, v in CHECKS.items() if k != "clean"}, **extra, "clean": CHECKS["clean"]}
    selected = list(checks)
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in checks]
        if unknown:
            raise click.BadParameter(f"unknown check {', '.join(unknown)}. The checks are: {', '.join(checks)}.",
                                     param_hint="'--test'")
        selected = ["executor", *[n for n in checks if n in wanted and n != "executor"]]
    run = _Run(backend=backend, storage_name=storage, timeout=timeout, keep=keep)
    click.echo("Lithops self-check")
    failed = skipped = 0
    try:
        for i, name in enumerate(selected):
            title, check = checks[name]
            start = time.monotonic()
            try:
                detail = check(run)
                status = "ok"
            except SkipCheck as skip:
                status, detail = "skip", str(skip)
                skipped += 1
            except Exception as exc:
                status, detail = "FAIL", _reason(exc)
                failed += 1
                if debugging():
                    traceback.print_exception(type(exc), exc, exc.__traceback__)
            took = f"{time.monotonic() - start:6.2f} s"
            line = f"  {status:4}  {title:24} {took}" + (f"  {detail}" if detail else "")
            click.secho(line, fg={"ok": "green", "FAIL": "red"}.get(status), err=False)
            if status == "FAIL" and (fail_fast or name == "executor"):
                for rest in selected[i + 1:]:
                    click.echo(f"  {'skip':4}  {checks[rest][0]:24} {'':8}  not run after the failure above")
                break
    finally:
        if run.fexec is not None:
            _leave_nothing(run)
    if failed:
        click.echo(f"{failed} of {len(selected)} checks failed.")
        raise click.exceptions.Exit(1)
    passed = len(selected) - skipped
    click.echo(f"All {passed} checks passed." if not skipped else f"{passed} checks passed, {skipped} skipped.")


def _leave_nothing(run: _Run) -> None:
    """Close the executor; unless --keep_datasets, delete what the checks stored even if they stopped early."""
    try:
        if not run.keep:
            storage = run.fexec.storage
            keys = storage.list_keys(storage.bucket, run.prefix + "/")
            if keys:
                storage.delete_objects(storage.bucket, keys)
    except Exception:  # the checks already reported the storage problem
        pass
    finally:
        run.fexec.close()
