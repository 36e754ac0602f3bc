"""Reading a domain config: YAML, FIELD=VALUE overrides, and errors that name the file
and the field."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from aet.config.schema import DomainConfig


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the field."""


def _format_errors(source: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"] if part != "__root__"]
        if "field_path" in item.get("ctx", {}):  # raised as _FieldError by a cross-field rule
            loc.append(item["ctx"]["field_path"])
        field = ".".join(loc) or "(top level)"
        lines.append(f"{source}: field '{field}': {item['msg']}")
    return "\n".join(lines)


def apply_override(raw: dict, assignment: str) -> None:
    """Sets `section.field=value` in a raw config; the value is parsed as YAML.

    A section switched off with `null` (e.g. `early_stopping: null`) is switched back on
    by setting one of its fields; the others take their defaults.
    """
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(
            f"override '{assignment}': expected FIELD=VALUE, e.g. training.train_steps=50"
        )
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"override '{assignment}': '{part}' is not a section")
    node[leaf] = yaml.safe_load(text)


def load_config(
    path: str | Path, overrides: list[str] = (), default_data: bool = False
) -> DomainConfig:
    """Reads and validates one domain config; raises ConfigError naming file and field.

    `overrides` are FIELD=VALUE assignments applied before validation (the CLI's --set).
    With `default_data` the config's own `data.default_set` applies first, for a run on
    the default data; `overrides` still win.
    """
    source = Path(path).resolve()
    try:
        raw = yaml.safe_load(source.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{source}: no such config file") from exc
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, a binary file
        raise ConfigError(f"{source}: cannot read the config file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    default_set = (raw.get("data") or {}).get("default_set") or [] if default_data else []
    if not isinstance(default_set, list):
        raise ConfigError(f"{source}: field 'data.default_set': expected a list of FIELD=VALUE")
    for assignment in [*default_set, *overrides]:
        apply_override(raw, assignment)
    if "source_dir" in raw:
        raise ConfigError(f"{source}: field 'source_dir' is set by the loader, remove it")
    try:
        return DomainConfig(**raw, source_dir=source.parent)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from exc
