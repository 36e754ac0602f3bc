"""Where a domain's data is read from: a user's path, or the default the config names.

Default data ships inside registry packages (DESIGN.md section 5). They are located
with importlib's finder and never imported: their own requirements are not installed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from aet.components.files import sha256_of
from aet.config import DomainConfig, PackageData
from aet.config.kinds import kind_of
from aet.pipelines.domains import SHIPPED_DOMAINS_DIR, SHIPPED_PACKAGE


class DataSourceError(ValueError):
    """The data cannot be found; the message says where it was looked for and what to do."""


def package_root(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataSourceError(
            f"the default data comes from the registry package '{package}', which is not "
            f"installed: run `make venv` (it installs requirements/data.txt), or pass --data"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def default_data_path(config: DomainConfig, site_packages: str | None = None) -> Path:
    """The config's default data; `site_packages` places package data elsewhere (an image)."""
    default = config.data.default
    if isinstance(default, PackageData):
        root = (
            Path(site_packages) / default.package
            if site_packages
            else package_root(default.package)
        )
        return root / default.file
    return config.resolve(default)


def resolve_data_path(config: DomainConfig, override: str | None = None) -> str:
    """The absolute data path for a run; local paths must exist, remote ones are trusted."""
    if override and "://" in override:
        return override
    path = Path(override).expanduser().resolve() if override else default_data_path(config)
    if not path.exists():
        source = "--data" if override else f"the default data of '{config.name}'"
        raise DataSourceError(f"{source}: no such file or folder: {path}")
    if not override:
        check_package_data(config, path)
    try:
        kind_of(config).check_data_path(config, path)
    except ValueError as exc:
        raise DataSourceError(str(exc)) from exc
    return os.fspath(path)


def check_package_data(config: DomainConfig, path: Path) -> None:
    """Refuses default data from a registry package whose content is not what the
    config pins (`data.default.sha256`): another release of the package, or a file
    changed after it was installed, would train and be judged on other data."""
    default = config.data.default
    if not isinstance(default, PackageData) or default.sha256 is None:
        return
    found = sha256_of(os.fspath(path))
    if found != default.sha256:
        raise DataSourceError(
            f"the default data of '{config.name}' ({path}, from the package "
            f"'{default.package}') is not the data the config pins: sha256 {found}, "
            f"expected {default.sha256}; reinstall the data packages "
            "(requirements/data.txt) or give --data"
        )


def schema_path(config: DomainConfig, site_packages: str | None = None) -> str | None:
    """The domain's curated schema file, or None when SchemaGen infers one.

    `site_packages` places it inside an image: a shipped domain's schema is package data,
    installed with the project; a domain outside the package has no copy there.
    """
    if not config.data.schema_file:
        return None
    local = config.resolve(config.data.schema_file)
    if site_packages is None:
        return os.fspath(local)
    try:
        relative = local.resolve().relative_to(SHIPPED_DOMAINS_DIR.resolve())
    except ValueError as exc:
        raise DataSourceError(
            f"{local}: this schema is not part of the container image; ship the domain "
            f"under domains/ so the image installs it, or drop data.schema_file to infer one"
        ) from exc
    installed = SHIPPED_PACKAGE.replace(".", "/")
    return f"{site_packages}/{installed}/{relative.as_posix()}"
