"""The contract suites' own strength: seeded bugs in the plugin template, each of which they must catch.

Each mutant is a copy of the template's package with one bug put in by text replacement. Its contract tests
(only those that should catch it, chosen with ``-k``) run against the installed template's entry point with the
mutated package first on ``sys.path``; each run must fail, and within a bounded time. If a replacement no
longer applies because the template changed, the test says which mutant to update.

| mutant | the bug | caught by |
| --- | --- | --- |
| put_not_atomic | a put from a file shows the object growing piece by piece | test_put_is_atomic |
| size_in_characters | head_object counts characters, not bytes | test_sizes_are_bytes |
| missing_bucket_lists_empty | listing a missing bucket returns [] | test_listing_a_missing_bucket_raises |
| missing_key_is_empty | get_object of a missing key returns b"" | test_missing_key_raises |
| overwrite_ignored | a put onto an existing key keeps the old body | test_overwrite_replaces |
| range_short | a ranged read loses its last byte | test_range |
| stream_ignored | get_object(stream=True) returns bytes | test_stream |
| pattern_ignored | list_objects ignores match_pattern | test_list_objects_sizes_and_pattern |
| listing_unsorted | list_objects returns keys in the order they were written | test_list_prefix_is_a_plain_prefix |
| prefix_as_folder | list_objects matches the prefix up to its last '/' only | test_list_prefix_is_a_plain_prefix |
| delete_missing_raises | deleting a missing key raises KeyError | test_delete |
| call_run_twice | every payload is delivered twice | test_each_call_runs_once |
| call_dropped | the last payload of a job is never delivered | test_map_keeps_order (named, within call_timeout) |
| worker_failure_swallowed | a broken worker invocation is only logged | test_worker_failure_fails_the_calls_at_once |
| close_breaks_next_executor | close() shuts down a pool shared by every instance | test_new_executor_after_close |
| cancel_ignored | cancel() does nothing | test_cancel_stops_queued_calls |
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "lithops-plugin-template"
PACKAGE = "lithops_plugin_template"
#: Seconds one mutant's tests may take before the suite counts as hanging on it.
MUTANT_BOUND = 90


class Mutant(NamedTuple):
    name: str
    file: str  # in the template's package
    edits: tuple[tuple[str, str], ...]  # (text, replacement): each text must occur exactly once
    tests: str  # pytest -k expression of the tests that must catch it
    expect: str = ""  # text the failure must show


MUTANTS = [
    Mutant("put_not_atomic", "storage.py", (
        ("from lithops.backends.helpers import body_bytes, parse_byte_range",
         "from lithops.backends.helpers import body_bytes, body_stream, parse_byte_range"),
        ("        data = body_bytes(body)\n        with _LOCK:\n"
         "            self._bucket(bucket)[key] = (data, time.time())",
         "        stream = body_stream(body)\n        objects = self._bucket(bucket)\n"
         "        objects[key] = (b'', time.time())\n        while chunk := stream.read(65536):\n"
         "            objects[key] = (objects[key][0] + chunk, time.time())"),
    ), "test_put_is_atomic"),
    Mutant("size_in_characters", "storage.py", (
        ('"content-length": str(len(data))', '"content-length": str(len(data.decode("utf-8", "replace")))'),
    ), "test_sizes_are_bytes"),
    Mutant("missing_bucket_lists_empty", "storage.py", (
        ("items = list(self._bucket(bucket).items())", "items = list(_BUCKETS.get(bucket, {}).items())"),
    ), "test_listing_a_missing_bucket_raises"),
    Mutant("missing_key_is_empty", "storage.py", (
        ("        if found is None:\n            raise StorageNoSuchKeyError(bucket, key)\n        data = found[0]",
         "        if found is None:\n            return b''\n        data = found[0]"),
    ), "test_missing_key_raises"),
    Mutant("overwrite_ignored", "storage.py", (
        ("self._bucket(bucket)[key] = (data, time.time())",
         "self._bucket(bucket).setdefault(key, (data, time.time()))"),
    ), "test_overwrite_replaces"),
    Mutant("range_short", "storage.py", (("data = data[start:end]", "data = data[start:max(start, end - 1)]"),),
           "test_range"),
    Mutant("stream_ignored", "storage.py", (("return io.BytesIO(data) if stream else data", "return data"),),
           "test_stream"),
    Mutant("pattern_ignored", "storage.py", (
        ("(match_pattern is None or fnmatch.fnmatch(key, match_pattern))", "(match_pattern or True)"),
    ), "test_list_objects_sizes_and_pattern"),
    Mutant("listing_unsorted", "storage.py", (("for key, (data, modified) in sorted(items)",
                                              "for key, (data, modified) in items"),),
           "test_list_prefix_is_a_plain_prefix"),
    Mutant("prefix_as_folder", "storage.py", (('if key.startswith(prefix or "")',
                                              'if key.startswith((prefix or "").rpartition("/")[0])'),),
           "test_list_prefix_is_a_plain_prefix"),
    Mutant("delete_missing_raises", "storage.py",
           (("self._bucket(bucket).pop(key, None)", "del self._bucket(bucket)[key]"),), "test_delete"),
    Mutant("call_run_twice", "compute.py", (
        ("                self._pool.submit(self._worker, job_key, wire, report)",
         "                self._pool.submit(self._worker, job_key, wire, report)\n"
         "                self._pool.submit(self._worker, job_key, wire, report)"),
    ), "test_each_call_runs_once"),
    Mutant("call_dropped", "compute.py", (
        ("for call_ids in job.chunks():", "for call_ids in job.chunks()[:-1] or job.chunks():"),
    ), "test_map_keeps_order", expect="1 call(s) did not finish within 8 s: call 00049 of job "),
    Mutant("worker_failure_swallowed", "compute.py", (("report_failed(report, payload, exc)", "del exc"),),
           "test_worker_failure"),
    Mutant("close_breaks_next_executor", "compute.py", (
        ("        self._pool: DaemonThreads | None = None\n", ""),
        ('    transport: ClassVar[str] = "storage"\n',
         '    transport: ClassVar[str] = "storage"\n    _pool: ClassVar[DaemonThreads | None] = None\n'),
        ("                self._pool = DaemonThreads(", "                TemplateBackend._pool = DaemonThreads("),
        ("            pool, self._pool = self._pool, None", "            pool = self._pool"),
    ), "test_new_executor_after_close"),
    Mutant("cancel_ignored", "compute.py", (("self._cancelled.update(job_keys)", "del job_keys"),),
           "test_cancel_stops_queued_calls"),
]

#: Appended to the copied tests: a dropped call fails its test after this many seconds, not the default 60.
FAST_CALL_TIMEOUT = "\nTestTemplateCompute.call_timeout = 8\n"


def _mutate(source: str, mutant: Mutant) -> str:
    for text, replacement in mutant.edits:
        count = source.count(text)
        assert count == 1, (f"mutant {mutant.name}: {text!r} occurs {count} times in {mutant.file} of the template "
                            f"(it must occur once); update the mutant to the template's code")
        source = source.replace(text, replacement)
    return source


@pytest.fixture(scope="module")
def installed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template installed (offline, with its own build backend) in a folder of its own; returns it."""
    site = tmp_path_factory.mktemp("template-site")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(site), str(TEMPLATE)],
        capture_output=True, text=True, timeout=120,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return site


def _run(site: Path, work: Path, mutant: Mutant | None, tests: str) -> tuple[int, float, str]:
    """Run the template's contract tests selected by ``tests`` against ``mutant`` (None: the template as is)."""
    overlay = work / "overlay"
    shutil.copytree(TEMPLATE / "src" / PACKAGE, overlay / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    if mutant is not None:
        path = overlay / PACKAGE / mutant.file
        path.write_text(_mutate(path.read_text(), mutant))
    shutil.copytree(TEMPLATE / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    with open(work / "tests" / "test_contract.py", "a") as f:
        f.write(FAST_CALL_TIMEOUT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(overlay), str(site)]), PYTHONDONTWRITEBYTECODE="1",
               LITHOPS_DISABLED_PLUGINS="lithops-aws")
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(work / "tests"), "-q", "-x", "-p", "no:cacheprovider", "-k", tests],
            env=env, cwd=work, capture_output=True, text=True, timeout=MUTANT_BOUND,
        )
    except subprocess.TimeoutExpired:
        return -1, time.monotonic() - start, f"still running after {MUTANT_BOUND} s"
    return proc.returncode, time.monotonic() - start, proc.stdout[-2500:] + proc.stderr[-1500:]


def test_the_contract_suites_catch_every_seeded_bug(installed_template: Path, tmp_path: Path) -> None:
    everything = " or ".join(sorted({m.tests for m in MUTANTS}))
    jobs = [(None, everything)] + [(m, m.tests) for m in MUTANTS]
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda job: _run(installed_template, tmp_path / (job[0].name if job[0] else
                                                                                 "unmutated"), *job), jobs))
    code, took, output = outcomes[0]
    assert code == 0, f"the unmutated template fails the selected tests ({took:.1f} s):\n{output}"
    survivors = []
    for (mutant, _), (code, took, output) in zip(jobs[1:], outcomes[1:], strict=True):
        assert mutant is not None
        if code != 1 or " failed" not in output or mutant.expect not in output:
            survivors.append(f"{mutant.name} (exit {code}, {took:.1f} s): {output[-600:]}")
    assert not survivors, "the contract suites let these seeded bugs through:\n" + "\n".join(survivors)
