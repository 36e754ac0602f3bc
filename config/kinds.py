"""The registry of data kinds, keyed by the `data.format` a config names.

A data kind (tabular rows, images, interaction logs, ...) is one folder under `kinds/`
whose class implements `aet.kinds.base.DataKind`; it registers itself here when its
module is imported. The registry sits in the config layer so that a config can be
checked against its kind while nothing below the kinds imports them: the generic code
(config validation, Transform's preprocessing_fn, the Trainer's run_fn, the serving
check, the client) looks its kind up here by name.

The built-in kinds are imported on the first look-up; other packages add theirs under
the `aet.kinds` entry-point group, or call `register_kind` (a test's fourth kind does).
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aet.config.schema import DomainConfig
    from aet.kinds.base import DataKind

BUILT_IN = "aet.kinds"
ENTRY_POINT_GROUP = "aet.kinds"


class KindConfigError(ValueError):
    """A config that does not fit its data kind; `field_path` is the dotted config field
    the message is about."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(message)
        self.field_path = field_path


_KINDS: dict[str, DataKind] = {}
_discovered = False


def register_kind(kind: DataKind) -> DataKind:
    """Makes `kind` the one `data.format: <kind.name>` selects; returns it."""
    _KINDS[kind.name] = kind
    return kind


def _discover() -> None:
    """Imports the built-in kinds and those other installed packages declare, once."""
    global _discovered
    if _discovered:
        return
    importlib.import_module(BUILT_IN)
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry_point.load()
        except Exception as exc:  # name the plugin, not a partial registry later
            raise ImportError(
                f"data kind plugin '{entry_point.name}' ({entry_point.value}) failed to load: {exc}"
            ) from exc
    _discovered = True


def kind_names() -> list[str]:
    _discover()
    return sorted(_KINDS)


def get_kind(name: str) -> DataKind:
    """The kind registered for `data.format: name`."""
    _discover()
    if name not in _KINDS:
        raise KeyError(f"unknown data format '{name}'; registered: {sorted(_KINDS)}")
    return _KINDS[name]


def kind_of(config: DomainConfig) -> DataKind:
    """The kind of the config's data (`data.format`)."""
    return get_kind(config.data.format)
