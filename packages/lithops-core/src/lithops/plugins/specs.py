"""Typed records that plugins return from the registration hooks.

A spec names a backend and points at its class by import string (``"package.module:Class"``), so that
registering a backend costs nothing: the class, and the cloud SDK behind it, is imported only when a user
asks for that backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lithops.constants import MODES

_NO_DEFAULT: Any = object()


@dataclass(frozen=True, kw_only=True)
class ConfigKey:
    """One key of a backend's config section.

    Attributes:
        type: accepted Python type(s) of the value (``int`` also accepts a whole ``float`` such as ``2.0``).
        default: value used when the key is absent (or null). Leaving it unset does not make the key required:
            without ``required=True`` such a key is optional and absent means absent.
        doc: one line for the config reference.
        required: the user must set the key (leave ``default`` unset): an absent key is a ConfigError, from the
            executor's validation and equally when the backend class is built from a dict.
        secret: masked wherever the config is shown.
        choices: the only values allowed, if any.
        minimum: smallest allowed number, if any.
        check: a further test of a value of the right type: returns what is wrong with it, worded to follow the
            key's name (``"is 'LOUD'; it must be ..."``), or None when the value is fine.
    """

    type: type | tuple[type, ...]
    doc: str
    default: Any = _NO_DEFAULT
    required: bool = False
    secret: bool = False
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    check: Callable[[Any], str | None] | None = None

    @property
    def has_default(self) -> bool:
        """Whether the key has a default value."""
        return self.default is not _NO_DEFAULT


def import_object(path: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attr = path.partition(":")
    if not attr:
        raise ValueError(f"import string {path!r} must look like 'package.module:Name'")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _types(spec: ConfigKey) -> tuple[type, ...]:
    return spec.type if isinstance(spec.type, tuple) else (spec.type,)


def default_problem(key: str, spec: ConfigKey) -> str | None:
    """What is wrong with the default of config key ``key`` (its type, choices or minimum), or None."""
    if not spec.has_default:
        return None
    value, types = spec.default, _types(spec)
    if value is None:  # the default of an optional key: absent means absent
        return None
    fits = isinstance(value, types) and (not isinstance(value, bool) or bool in types or int not in types)
    if not fits and isinstance(value, int) and not isinstance(value, bool) and float in types:
        fits = True  # an int default of a float key
    if not fits and isinstance(value, float) and value.is_integer() and int in types:
        fits = True  # a whole float default of an int key, as the config accepts
    names = " or ".join(t.__name__ for t in types)
    if not fits:
        return (f"config key {key!r} has default {value!r} ({type(value).__name__}), which its own type ({names}) "
                f"refuses: change the default, or the type")
    if spec.choices is not None and value not in spec.choices:
        return f"config key {key!r} has default {value!r}, not one of its choices {spec.choices!r}"
    if spec.minimum is not None and isinstance(value, (int, float)) and value < spec.minimum:
        return f"config key {key!r} has default {value!r}, below its minimum {spec.minimum!r}"
    return None


#: What a spec's ``validate`` returns: the problems of the whole section (cross-key rules), worded to follow the
#: section's name, or None/empty when there are none.
SectionValidator = Callable[[Mapping[str, Any]], "list[str] | None"]


@dataclass(frozen=True, kw_only=True)
class _BackendSpec:
    name: str
    backend: str
    config: Mapping[str, ConfigKey] = field(default_factory=dict)
    description: str = ""
    #: Config sections shared by several backends of one provider (e.g. ``("aws",)``): their keys that this
    #: backend's schema declares fill in the keys its own section does not set (credentials, region).
    shared_sections: tuple[str, ...] = ()
    #: Rules between keys of the section (e.g. a memory size allowed only with some CPU counts): called with the
    #: section validated and filled in, returns its problems (see :data:`SectionValidator`).
    validate: SectionValidator | None = None
    #: Import strings (``"module:function"``) of extra ``lithops test`` checks for this backend: each function
    #: takes the executor and returns a line of detail, raising to fail (see docs/plugins.md).
    checks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"backend name {self.name!r} must be letters, digits and underscores")
        if ":" not in self.backend:
            raise ValueError(f"backend {self.backend!r} of {self.name!r} must be an import string 'module:Class'")
        for key, spec in self.config.items():
            if not isinstance(spec, ConfigKey):
                raise TypeError(f"config key {key!r} of backend {self.name!r} is {spec!r}; it must be a ConfigKey")
            problem = default_problem(key, spec)
            if problem:
                raise ValueError(f"backend {self.name!r}: {problem}")
        bad = [c for c in self.checks if not isinstance(c, str) or ":" not in c]
        if bad:
            raise ValueError(f"checks {bad!r} of backend {self.name!r} must be import strings 'module:function'")
        if self.validate is not None and not callable(self.validate):
            raise TypeError(f"validate of backend {self.name!r} must be a function of the section, not "
                            f"{self.validate!r}")

    def load(self) -> type:
        """Import and return the backend class."""
        cls: type = import_object(self.backend)
        return cls


@dataclass(frozen=True, kw_only=True)
class ComputeBackendSpec(_BackendSpec):
    """A compute backend: where calls run.

    Attributes:
        name: the name users put in ``lithops.backend`` and the name of its config section.
        mode: ``localhost``, ``serverless`` or ``standalone``; picks the executor class that uses it.
        backend: import string of a :class:`lithops.backends.compute.ComputeBackend` subclass.
        config: schema of the backend's config section.
        default_storage: storage backend used with it when ``lithops.storage`` is not set.
        description: one line shown by ``lithops plugins``.
    """

    mode: str
    default_storage: str = "localhost"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} of compute backend {self.name!r} must be one of {MODES}")


@dataclass(frozen=True, kw_only=True)
class StorageBackendSpec(_BackendSpec):
    """A storage backend: where objects live.

    Attributes:
        name: the name users put in ``lithops.storage`` and the name of its config section.
        backend: import string of a :class:`lithops.backends.storage.StorageBackend` subclass.
        config: schema of the backend's config section.
        description: one line shown by ``lithops plugins``.
        url_schemes: URL schemes that name objects of this backend in data-map inputs (``("s3",)`` makes
            ``"s3://bucket/key"`` read through it).
    """

    url_schemes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [s for s in self.url_schemes
               if not isinstance(s, str) or not s or not s[0].isalpha() or not s.replace("+", "").replace(
                   "-", "").replace(".", "").isalnum() or s != s.lower()]
        if bad or isinstance(self.url_schemes, str):
            raise ValueError(f"url_schemes {self.url_schemes!r} of storage backend {self.name!r} must be a tuple of "
                             f"lower-case URL schemes without '://', such as ('s3',)")


@dataclass(frozen=True, kw_only=True)
class RuntimeBuilderSpec(_BackendSpec):
    """A runtime builder: builds and deploys the environment workers run in for one compute backend.

    Attributes:
        name: the compute backend it builds runtimes for.
        backend: import string of a :class:`lithops.backends.runtime.RuntimeBuilder` subclass.
    """
