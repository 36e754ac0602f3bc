"""Finding domains: the ones shipped in `domains/<name>/config.yaml`, or any config path."""

from __future__ import annotations

from pathlib import Path

from aet import domains
from aet.config import ConfigError, DomainConfig, load_config

SHIPPED_DOMAINS_DIR = Path(domains.__file__).parent
SHIPPED_PACKAGE = domains.__name__  # where the shipped configs are installed: aet.domains
CONFIG_FILE = "config.yaml"


def shipped_domains() -> dict[str, Path]:
    """Name -> config path of every domain folder that holds a config.yaml."""
    return {path.parent.name: path for path in sorted(SHIPPED_DOMAINS_DIR.glob(f"*/{CONFIG_FILE}"))}


def load_domain(
    name_or_path: str, overrides: list[str] = (), default_data: bool = False
) -> DomainConfig:
    """A shipped domain by name, or a config file by path (a new domain needs no code);
    `default_data`: the run reads the config's default data (see load_config)."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.is_file():
        return load_config(path, overrides, default_data)
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        return load_config(path / CONFIG_FILE, overrides, default_data)
    known = shipped_domains()
    if name_or_path not in known:
        raise ConfigError(
            f"unknown domain '{name_or_path}': shipped domains are {sorted(known)}; "
            "or give the path of a config.yaml"
        )
    return load_config(known[name_or_path], overrides, default_data)
