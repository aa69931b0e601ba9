"""``lithops config show``: the resolved config, secrets masked, and where each value came from."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import click
import yaml

from lithops.cli.common import backend_options

#: Keys whose values are masked whatever their schema says.
SECRET_NAME = re.compile(r"key|secret|token|password|passwd|credential", re.IGNORECASE)
MASK = "********"


def _secret_keys(config: Mapping[str, Any]) -> dict[str, set[str]]:
    """Section -> keys declared ``ConfigKey(secret=True)`` by the schemas of the backends in use (and their
    shared sections).
    """
    from lithops.plugins.manager import get_registry

    registry = get_registry()
    secrets: dict[str, set[str]] = {}
    lithops = config.get("lithops", {})
    for kind, name in (("compute", lithops.get("backend")), ("storage", lithops.get("storage"))):
        if not name:
            continue
        spec = registry.find(kind, name).spec
        keys = {k for k, ck in spec.config.items() if ck.secret}
        for section in (name, *spec.shared_sections):
            secrets.setdefault(section, set()).update(keys)
    return secrets


def _mask(key: str, value: Any, secret: bool) -> Any:
    if value is None or value == "":
        return value
    if secret or SECRET_NAME.search(key):
        return MASK
    if isinstance(value, Mapping):
        return {k: _mask(str(k), v, False) for k, v in value.items()}
    return value


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20, allow_unicode=True).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text


def _origin(section: str, key: str, raw: Mapping[str, Any], source: str, overridden: Mapping[str, str],
            shared: Mapping[str, tuple[str, ...]], final: Mapping[str, Any]) -> str:
    if section == "lithops" and key in overridden:
        return f"override ({overridden[key]})"
    values = raw.get(section)
    if isinstance(values, Mapping) and values.get(key) is not None:
        return source
    for other in shared.get(section, ()):
        values = raw.get(other)
        if isinstance(values, Mapping) and values.get(key) is not None:
            return f"{source}, section {other}"
    if section == "lithops" and key == "mode":
        return "derived from the backend"
    if section == "lithops" and key == "storage":
        return f"default storage of backend {final['lithops']['backend']}"
    return "default"


@click.group("config")
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@backend_options
def show(backend: str | None, storage: str | None) -> None:
    """Print the resolved config (secrets masked) and, for each value, where it came from."""
    from lithops.cli.common import overrides, resolved_config
    from lithops.config import load_config_source
    from lithops.plugins.manager import get_registry

    raw, source = load_config_source()
    final = resolved_config(backend, storage)
    overridden = {k: f"--{k}" for k in (overrides(backend, storage) or {}).get("lithops", {})}
    registry = get_registry()
    shared: dict[str, tuple[str, ...]] = {}
    for kind in ("compute", "storage"):
        name = final["lithops"]["backend" if kind == "compute" else "storage"]
        shared[name] = shared.get(name, ()) + registry.find(kind, name).spec.shared_sections
    secrets = _secret_keys(final)

    click.echo(f"# Lithops config: compute backend {final['lithops']['backend']}, storage backend "
               f"{final['lithops']['storage']}")
    click.echo(f"# source: {source}")
    lines: list[tuple[str, str]] = []
    for section, values in final.items():
        if not isinstance(values, Mapping):
            lines.append((f"{section}: {_scalar(_mask(section, values, False))}", source))
            continue
        lines.append((f"{section}:", ""))
        for key, value in values.items():
            shown = _mask(str(key), value, key in secrets.get(section, set()))
            lines.append((f"  {key}: {_scalar(shown)}",
                          _origin(section, str(key), raw, source, overridden, shared, final)))
    width = max(len(text) for text, origin in lines if origin) if lines else 0
    for text, origin in lines:
        click.echo(f"{text.ljust(width)}  # {origin}" if origin else text)
