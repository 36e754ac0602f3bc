"""Fixtures shared by the whole suite: the shipped finance_risk config and its data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def finance_config():
    from pipelines.domains import load_domain

    return load_domain("finance_risk")


@pytest.fixture(scope="session")
def german_credit_csv(finance_config) -> Path:
    """The default German Credit CSV, read from the registry package it ships in."""
    from pipelines.data_sources import default_data_path

    return default_data_path(finance_config)


@pytest.fixture(scope="session")
def penguins_csv() -> Path:
    path = SHARED_DATASETS / "penguins" / "penguins_processed.csv"
    if not path.exists():
        pytest.fail(f"{path} is missing: the suite expects ../shared beside the repository")
    return path
