"""Finding, loading, merging and validating the Lithops config.

Discovery order when no config dict is given: the worker's inherited config (inside a Lithops worker), the file
named by ``LITHOPS_CONFIG_FILE``, ``./.lithops_config``, ``~/.lithops/config``, ``/etc/lithops/config``; with none
of them, localhost compute and localhost storage.
"""

from __future__ import annotations

import copy
import difflib
import logging
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from lithops import constants as C
from lithops.errors import ConfigError, LithopsError, PluginError
from lithops.plugins.known import MODE_DEFAULT_BACKENDS
from lithops.plugins.manager import get_registry
from lithops.plugins.specs import ConfigKey
from lithops.worker.context import inherited_config

logger = logging.getLogger(__name__)

#: Names ``logging`` knows as levels (any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL", "NOTSET")


def _check_log_level(value: Any) -> str | None:
    if value is True or (isinstance(value, str) and value.upper() not in LOG_LEVELS):
        return (f"is {value!r}; it must be a logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL "
                f"(or false to leave logging alone)")
    return None


def _check_log_filename(value: Any) -> str | None:
    if isinstance(value, str) and value:
        folder = os.path.dirname(os.path.abspath(os.path.expanduser(value)))
        if not os.path.isdir(folder):
            return (f"names a file in folder {folder}, which does not exist. Create that folder, or point "
                    f"log_filename into an existing one")
    return None


#: Schema of the ``lithops`` section, common to every backend.
LITHOPS_SECTION: dict[str, ConfigKey] = {
    "backend": ConfigKey(type=str, default=None, doc="compute backend name (e.g. localhost, aws_lambda)"),
    "storage": ConfigKey(type=str, default=None, doc="storage backend name; defaults to the compute backend's"),
    "mode": ConfigKey(type=str, default=None, choices=C.MODES, doc="deprecated: derived from the backend"),
    "execution_timeout": ConfigKey(
        type=(int, float), default=C.EXECUTION_TIMEOUT_DEFAULT, minimum=1, doc="seconds a call may run"
    ),
    "data_limit": ConfigKey(
        type=(int, float, bool), default=C.DATA_LIMIT_DEFAULT_MIB, minimum=0,
        doc="max input data per call in MiB; false: none"
    ),
    "result_limit": ConfigKey(
        type=(int, float, bool), default=C.RESULT_LIMIT_DEFAULT_MIB, minimum=0,
        doc="max result per call in MiB; false: none"
    ),
    "log_level": ConfigKey(
        type=(str, bool, type(None)),
        default="INFO",
        check=_check_log_level,
        doc="level of the 'lithops' logger when the application has not set one; false: leave logging alone",
    ),
    "log_format": ConfigKey(type=str, default="%(asctime)s [%(levelname)s] %(name)s -- %(message)s", doc="log format"),
    "log_stream": ConfigKey(type=str, default="ext://sys.stderr", choices=("ext://sys.stderr", "ext://sys.stdout"),
                            doc="where log lines go"),
    "log_filename": ConfigKey(type=(str, type(None)), default=None, check=_check_log_filename,
                              doc="write log lines to this file instead"),
    "data_cleaner": ConfigKey(type=bool, default=True, doc="delete a job's temporary objects when it is done"),
    "monitoring": ConfigKey(type=str, default="storage", choices=("storage",),
                            doc="how storage-transport backends report status (RabbitMQ is not supported yet)"),
    "monitoring_interval": ConfigKey(type=(int, float, type(None)), default=None, minimum=0.05,
                                     doc="seconds between status polls of storage-protocol backends (default: what "
                                         "the backend declares, else 2)"),
    "chunksize": ConfigKey(type=int, default=1, minimum=1, doc="calls per worker invocation when map() is not told"),
    "retries": ConfigKey(type=int, default=0, minimum=0,
                         doc="resubmissions of a failed call (RetryingFunctionExecutor)"),
}


def load_yaml_config(config_filename: str) -> dict[str, Any]:
    """Read a YAML config file and return it as a dict (empty file: empty dict)."""
    try:
        with open(config_filename, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {config_filename} does not exist. Create it, or unset {C.CONFIG_FILE_ENV} "
            f"if it points there."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {config_filename}: {exc.strerror or exc}. Point {C.CONFIG_FILE_ENV} (or "
            f"--config) at a readable file."
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(
            f"config file {config_filename} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}). "
            f"Save it as UTF-8."
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"config file {config_filename} is not valid YAML{where}: {problem}. Fix the file (indent with spaces, "
            f"'key: value' pairs)."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {config_filename} must hold sections such as 'lithops:' at the top level, "
            f"not a {type(data).__name__}."
        )
    return data


def find_config_file() -> str | None:
    """The config file that discovery picks, or None when there is none."""
    env_file = os.environ.get(C.CONFIG_FILE_ENV)
    if env_file:
        return env_file
    for candidate in (C.CONFIG_FILE_LOCAL, C.CONFIG_FILE_USER, C.CONFIG_FILE_GLOBAL):
        if os.path.isfile(candidate):
            return candidate
    return None


def _load(config_data: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    if config_data is not None:
        if not isinstance(config_data, Mapping):
            raise ConfigError(
                f"config must be a dict of sections such as {{'lithops': {{'backend': 'localhost'}}}}, "
                f"not {type(config_data).__name__}."
            )
        return copy.deepcopy(dict(config_data)), "the config dict passed in"
    inherited = inherited_config()  # inside a call: its executor's config
    if inherited is not None:
        return inherited, "the config inherited from the parent executor"
    filename = find_config_file()
    if filename is None:
        return {}, "built-in defaults (no config file found)"
    return load_yaml_config(filename), f"config file {filename}"


def load_config(config_file: str | None = None, log: bool = True) -> dict[str, Any]:
    """The config as Lithops 3.x's ``load_config`` returns it: read from ``config_file`` when given, else
    discovered (see module docs), not validated; with none found, a localhost one. The dict can be edited and
    passed to an executor or ``Storage`` as ``config``.

    Raises:
        FileNotFoundError: ``config_file`` does not exist.
    """
    if config_file:
        path = os.path.expanduser(config_file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file {path} does not exist. Check the path.")
        config, source = load_yaml_config(path), f"config file {path}"
    else:
        config, source = _load(None)
    if log:
        logger.debug("Loaded the config from %s", source)
    return config or {"lithops": {"backend": C.LOCALHOST, "storage": C.LOCALHOST}}


def load_config_source(config_data: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """The config as discovered (or as given), before validation, and its source as error messages name it
    (for example ``config file /home/me/.lithops/config``).
    """
    return _load(config_data)


def _check_value(section: str, key: str, value: Any, spec: ConfigKey) -> tuple[Any, str | None]:
    """The value, converted where the schema allows it, and what is wrong with it (None: nothing)."""
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    if float in types and int not in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if int in types and isinstance(value, float) and value.is_integer() and float not in types:
        value = int(value)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types and value is not None)
    if not ok:
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        return value, f"{section}.{key} must be {names}, got {value!r}. Fix that value ({spec.doc})."
    if spec.choices is not None and value not in spec.choices:
        return value, f"{section}.{key} is {value!r}; it must be one of {', '.join(map(str, spec.choices))}."
    if isinstance(value, float) and not math.isfinite(value):
        return value, f"{section}.{key} is {value}; it must be a finite number ({spec.doc})."
    if spec.minimum is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < spec.minimum:
            return value, f"{section}.{key} is {value}; it must be at least {spec.minimum:g}."
    problem = spec.check(value) if spec.check is not None else None
    if problem:
        return value, f"{section}.{key} {problem}."
    return value, None


def _config_error(problems: list[str]) -> ConfigError:
    """One :class:`ConfigError` that lists every problem found."""
    if len(problems) == 1:
        return ConfigError(problems[0])
    listed = "\n".join(f"  - {p}" for p in problems)
    return ConfigError(f"{len(problems)} problems in the config:\n{listed}")


def raise_problems(problems: list[str]) -> None:
    """Raise one :class:`ConfigError` that lists every problem found (nothing when there is none)."""
    if problems:
        raise _config_error(problems)


def validate_section(
    section: str,
    values: Any,
    schema: Mapping[str, ConfigKey],
    source: str,
    problems: list[str] | None = None,
    origins: Mapping[str, str] | None = None,
    warn_unknown: bool = True,
) -> dict[str, Any]:
    """Check one config section against its schema and return it with defaults filled in.

    Unknown keys are kept but warned about (with a did-you-mean; quietly with ``warn_unknown=False``), so
    configs written for other Lithops versions still load. Each problem is named with its source: ``origins``
    maps keys that came from somewhere else (an executor argument) to that source. With a ``problems`` list,
    problems are appended to it (and the faulty keys get their defaults) for the caller to report together;
    without, the first call raises :class:`ConfigError` listing them all.
    """
    found: list[str] = [] if problems is None else problems
    origins = origins or {}
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        found.append(f"{source}: section '{section}' must be a mapping of keys, got {values!r}. Write it as "
                     f"'{section}:' followed by indented 'key: value' lines.")
        values = {}
    result = dict(values)
    for key, value in values.items():
        where = origins.get(key, source)
        spec = schema.get(key)
        if spec is None:
            if not warn_unknown:
                continue
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            warnings.warn(f"{where}: unknown key {section}.{key} is ignored.{hint}", UserWarning, stacklevel=4)
            continue
        if value is None and spec.has_default:
            result[key] = spec.default
            continue
        result[key], problem = _check_value(section, key, value, spec)
        if problem:
            found.append(f"{where}: {problem}")
            if spec.has_default:
                result[key] = copy.deepcopy(spec.default)
            else:
                del result[key]
    for key, spec in schema.items():
        if key not in result:
            if spec.required:
                found.append(f"{source}: {section}.{key} is required ({spec.doc}). Add it to that section.")
            elif spec.has_default:
                result[key] = copy.deepcopy(spec.default)
    if problems is None:
        raise_problems(found)
    return result


def backend_settings(owner: str, values: Mapping[str, Any] | None,
                     schema: Mapping[str, ConfigKey]) -> dict[str, Any]:
    """A backend's config section as it receives it: checked against ``schema``, defaults filled in.

    What the backend base classes call in ``__init__``, so a backend built from a hand-written dict (a test,
    a contract suite) gets the same defaults as one the executor builds from a validated config. Keys the
    schema does not declare are kept quietly (the executor's section also carries shared keys).

    Raises:
        ConfigError: a value is wrong or a required key is missing; the message names ``owner`` and the key.
    """
    return validate_section(owner, values, schema, f"config of {owner}", warn_unknown=False)


def _json_problems(value: Any, path: str, source: str, problems: list[str], parents: tuple[int, ...] = ()) -> None:
    """Append a problem for each value under ``path`` that JSON cannot carry to a worker (with its path)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return
    if id(value) in parents:
        problems.append(f"{source}: {path} contains itself (a YAML alias used inside its own anchor?). Write the "
                        f"value out in full.")
        return
    inner = (*parents, id(value))
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(f"{source}: key {key!r} under {path} is a {type(key).__name__}; config keys must "
                                f"be strings. Quote it.")
                continue
            _json_problems(item, f"{path}.{key}", source, problems, inner)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _json_problems(item, f"{path}[{i}]", source, problems, inner)
    else:
        problems.append(f"{source}: {path} is a {type(value).__name__} ({value!r}), which cannot be sent to "
                        f"workers: config values must be strings, numbers, booleans, null, lists or mappings. "
                        f"Write it as one of those (a date as a string, '2024-01-01').")


def check_serializable(config: Mapping[str, Any], source: str, problems: list[str]) -> None:
    """Append a problem for each config value that cannot travel to workers as JSON, named by its key path."""
    for section, values in config.items():
        if not isinstance(section, str):
            problems.append(f"{source}: section name {section!r} must be a string. Quote it.")
            continue
        _json_problems(values, section, source, problems)


def _merge(config: dict[str, Any], overwrite: Mapping[str, Any]) -> None:
    for section, values in overwrite.items():
        current = config.get(section)
        if isinstance(values, Mapping):
            if current is not None and not isinstance(current, Mapping):
                continue  # a malformed section stays for validation to report, overrides or not
            config[section] = {**(current or {}), **values}
        else:
            config[section] = values


def _origins(label: str, values: Any) -> dict[str, str]:
    """Key -> ``"<label> <key>"`` for the keys of an override section (how problems with them are named)."""
    return {str(k): f"{label} {k}" for k in values} if isinstance(values, Mapping) else {}


def default_config(
    config_data: Mapping[str, Any] | None = None,
    config_overwrite: Mapping[str, Any] | None = None,
    load_storage_config: bool = True,
    backend_overwrite: Mapping[str, Any] | None = None,
    overwrite_source: str = "override",
) -> dict[str, Any]:
    """Return the complete, validated config: discovered or given, overwritten, with backend defaults.

    Every entry point (``FunctionExecutor``, ``lithops hello``, ``lithops test``, ``lithops config show``)
    validates through this function, so a config is refused the same way everywhere, with every problem listed.

    Args:
        config_data: a config dict; when None the config is discovered (see module docs).
        config_overwrite: sections whose keys replace those of the loaded config.
        load_storage_config: also resolve and validate the storage backend's section.
        backend_overwrite: keys that replace those of the resolved compute backend's section.
        overwrite_source: how problems with overridden keys name where they came from, followed by the key
            (e.g. ``"FunctionExecutor argument"``).

    Raises:
        ConfigError: a file or value is wrong; the message names the source, the key and the fix, for every
            problem found.
        PluginError: the backend asked for is unknown or not installed; the message says what to install.
    """
    config, source = _load(config_data)
    problems: list[str] = []
    check_serializable(config, source, problems)
    lithops_origins = _origins(overwrite_source, (config_overwrite or {}).get("lithops"))
    section_origins = _origins(overwrite_source, backend_overwrite)
    for overwrite in ((config_overwrite or {}).get("lithops"), backend_overwrite):
        for key, value in (overwrite or {}).items():
            _json_problems(value, str(key), f"{overwrite_source} {key}", problems)
    if config_overwrite:
        _merge(config, config_overwrite)
    lithops = validate_section("lithops", config.get("lithops"), LITHOPS_SECTION, source, problems,
                               lithops_origins)
    config["lithops"] = lithops
    try:
        _resolve_backends(config, lithops, source, problems, config_overwrite, load_storage_config,
                          backend_overwrite, section_origins)
    except PluginError as exc:
        if not problems:
            raise
        problems.append(str(exc))
    raise_problems(problems)
    return config


def _resolve_backends(config: dict[str, Any], lithops: dict[str, Any], source: str, problems: list[str],
                      config_overwrite: Mapping[str, Any] | None, load_storage_config: bool,
                      backend_overwrite: Mapping[str, Any] | None, section_origins: Mapping[str, str]) -> None:
    """Pick the compute and storage backends and validate their sections (see :func:`default_config`)."""
    registry = get_registry()
    mode = lithops.get("mode")
    backend = lithops.get("backend") or MODE_DEFAULT_BACKENDS.get(mode or "", C.DEFAULT_BACKEND)
    requested = (config_overwrite or {}).get("lithops") or {}
    requested_mode = requested.get("mode")
    if requested_mode and "backend" not in requested and not _backend_in_mode(backend, requested_mode):
        # e.g. LocalhostExecutor() while the config file names a serverless backend: use the mode's default
        backend = MODE_DEFAULT_BACKENDS[requested_mode]
    spec = registry.compute_backend(backend)
    if backend_overwrite:
        _merge(config, {backend: backend_overwrite})
    if mode and mode != spec.mode:
        problems.append(
            f"{source}: backend '{backend}' runs in {spec.mode} mode, not {mode}. Drop lithops.mode or pick a "
            f"{mode} backend."
        )
    lithops["backend"] = backend
    lithops["mode"] = spec.mode
    storage = lithops.get("storage") or spec.default_storage
    lithops["storage"] = storage
    schema = dict(spec.config)
    shared = spec.shared_sections
    rules: list[Any] = [spec]
    if load_storage_config:
        storage_spec = registry.storage_backend(storage)
        if storage == backend:
            schema.update(storage_spec.config)
            shared += storage_spec.shared_sections
            rules.append(storage_spec)
        else:
            values = _with_shared(config, storage, storage_spec.shared_sections, storage_spec.config)
            before = len(problems)
            config[storage] = validate_section(storage, values, storage_spec.config, source, problems)
            if len(problems) == before:
                _section_rules([storage_spec], storage, config[storage], source, problems)
    before = len(problems)
    config[backend] = validate_section(backend, _with_shared(config, backend, shared, schema), schema, source,
                                       problems, section_origins)
    if len(problems) == before:
        _section_rules(rules, backend, config[backend], source, problems)


def _section_rules(specs: Iterable[Any], section: str, values: Mapping[str, Any], source: str,
                   problems: list[str]) -> None:
    """Append the problems that the specs' own ``validate`` (rules between keys) find in a valid section."""
    for spec in specs:
        if spec.validate is None:
            continue
        try:
            found = spec.validate(values)
        except Exception as exc:
            problems.append(f"{source}: the rules of section '{section}' could not be checked ({type(exc).__name__}: "
                            f"{exc}); that is a bug of the plugin that provides '{spec.name}'.")
            continue
        problems.extend(f"{source}: section '{section}': {p}" for p in ([found] if isinstance(found, str) else
                                                                         found or ()))


def _with_shared(config: Mapping[str, Any], name: str, shared: tuple[str, ...], schema: Mapping[str, Any]) -> Any:
    """Section ``name`` of ``config``, with the keys of its shared sections (e.g. ``aws``) that it does not set."""
    values = config.get(name)
    inherited: dict[str, Any] = {}
    for other in shared:
        section = config.get(other)
        if isinstance(section, Mapping):
            inherited.update({k: v for k, v in section.items() if k in schema})
    if not inherited or not (values is None or isinstance(values, Mapping)):
        return values
    return {**inherited, **(values or {})}


def _backend_in_mode(backend: str, mode: str) -> bool:
    """Whether ``backend`` is installed and runs in ``mode``."""
    try:
        return get_registry().compute_backend(backend).mode == mode
    except LithopsError:
        return False

def worker_config(config: Mapping[str, Any], storages: Iterable[str] = ()) -> dict[str, Any]:
    """The part of a validated config that workers receive (job payloads, ``LITHOPS_WORKER_CONFIG``).

    That is the ``lithops`` section, the sections of the compute backend, of the storage backend and of any
    other storage backend in ``storages`` (data-map inputs), and the shared sections their specs declare
    (``shared_sections``, e.g. ``aws``). Every other section, with whatever secrets it holds, stays here, and so
    does ``lithops.log_filename`` (a path on this machine).
    """
    lithops = config["lithops"]
    registry = get_registry()
    keep = {"lithops", lithops["backend"], *registry.compute_backend(lithops["backend"]).shared_sections}
    for name in (lithops["storage"], *storages):
        keep.update((name, *registry.storage_backend(name).shared_sections))
    sent = {section: values for section, values in config.items() if section in keep}
    # a log file is a path on this machine: nested executors in workers log to their captured stderr instead
    sent["lithops"] = {**lithops, "log_filename": None}
    return sent


def extract_storage_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a full config that a storage client needs: ``{'backend', 'bucket', <backend>: section}``."""
    backend = config.get("lithops", {}).get("storage") or C.DEFAULT_STORAGE
    section = dict(config.get(backend) or {})
    return {"backend": backend, "bucket": section.get("storage_bucket"), backend: section}


def setup_logger(config: Mapping[str, Any]) -> None:
    """Configure the 'lithops' logger from the config, unless the application already configured logging."""
    lithops = config.get("lithops", {})
    level = lithops.get("log_level", "INFO")
    root_logger = logging.getLogger("lithops")
    if not level or root_logger.handlers or logging.getLogger().handlers:
        return  # off, or the application configured logging itself
    if lithops.get("log_filename"):
        try:
            handler: logging.Handler = logging.FileHandler(os.path.expanduser(lithops["log_filename"]))
        except OSError as exc:
            raise ConfigError(
                f"lithops.log_filename {lithops['log_filename']!r} cannot be opened for writing: "
                f"{exc.strerror or exc}. Point it at a file you may write."
            ) from None
    else:
        import sys

        stream = sys.stdout if lithops.get("log_stream") == "ext://sys.stdout" else sys.stderr
        handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(lithops.get("log_format") or LITHOPS_SECTION["log_format"].default))
    root_logger.addHandler(handler)
    root_logger.setLevel(str(level).upper())
    root_logger.propagate = False


def load_storage_config(
    config_data: Mapping[str, Any] | None = None, backend: str | None = None, bucket: str | None = None
) -> dict[str, Any]:
    """Resolve only what a storage client needs (no compute backend is looked up).

    Returns ``{'backend', 'bucket', <backend>: section}`` as :func:`extract_storage_config` does.
    """
    config, source = _load(config_data)
    problems: list[str] = []
    check_serializable(config, source, problems)
    lithops = validate_section("lithops", config.get("lithops"), LITHOPS_SECTION, source, problems)
    try:
        registry = get_registry()
        name = backend or lithops.get("storage")
        if not name:
            compute = lithops.get("backend")
            name = registry.compute_backend(compute).default_storage if compute else C.DEFAULT_STORAGE
        spec = registry.storage_backend(name)
    except PluginError as exc:
        if not problems:
            raise
        raise _config_error([*problems, str(exc)]) from None
    schema = dict(spec.config)
    if lithops.get("backend") == name:  # one section for a compute and a storage backend (localhost): its
        try:  # compute keys are not unknown here
            schema = {**registry.compute_backend(name).config, **schema}
        except PluginError:
            pass
    section = validate_section(name, _with_shared(config, name, spec.shared_sections, schema), schema, source,
                               problems)
    raise_problems(problems)
    if bucket:
        section["storage_bucket"] = bucket
    return {"backend": name, "bucket": section.get("storage_bucket"), name: section}
