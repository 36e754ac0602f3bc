"""Fixtures shared by the whole suite: the shipped finance_risk config and its data,
config files written to tmp_path, the penguins domain, and a guard that undoes the
logging set-up `aet run` performs."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from absl import logging as absl_logging
from hypothesis import settings

from aet.config import ConfigError, load_config
from tests.penguins_domain import write_penguins_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Hypothesis: no example database in the tree; on CI the same examples every run, so
# a red build always reproduces (locally each run draws new ones).
settings.register_profile("ci", database=None, derandomize=True, deadline=None)
settings.register_profile("local", database=None, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "local")

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def finance_config():
    from aet.pipelines.domains import load_domain

    return load_domain("finance_risk")


@pytest.fixture(scope="session")
def german_credit_csv(finance_config) -> Path:
    """The default German Credit CSV, read from the registry package it ships in."""
    from aet.pipelines.data_sources import default_data_path

    return default_data_path(finance_config)


@pytest.fixture(scope="session")
def transform_run(tmp_path_factory, finance_config, german_credit_csv):
    """The session's real Transform run over German Credit (tests/transform_fixture.py)."""
    from tests.transform_fixture import shared_transform_run

    return shared_transform_run(tmp_path_factory, finance_config, german_credit_csv)


@pytest.fixture(scope="session")
def penguins_csv() -> Path:
    path = SHARED_DATASETS / "penguins" / "penguins_processed.csv"
    if not path.exists():
        pytest.fail(f"{path} is missing: the suite expects ../shared beside the repository")
    return path


# What the factory builds for a domain without a curated schema (SchemaGen infers one).
INFERRED_SCHEMA_COMPONENTS = {
    "CsvExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "AnomaliesGate",
    "Transform",
    "Trainer",
    "latest_blessed_model_resolver",
    "Evaluator",
    "Explanations",
    "ServingCheck",
    "Pusher",
    "ServerConfigWriter",
}


def shipped_raw_config(domain: str) -> dict:
    """A shipped domain's config as YAML reads it, to be changed by a test."""
    from aet.pipelines.domains import shipped_domains

    return copy.deepcopy(yaml.safe_load(shipped_domains()[domain].read_text()))


def config_error_line(raw: dict, folder: Path, field: str) -> str:
    """Writes `raw` as a config in `folder`, loads it expecting a ConfigError and returns
    the error's line that names `field` (fails when none does)."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    named = [line for line in str(caught.value).splitlines() if f"field '{field}'" in line]
    assert named, str(caught.value)
    return named[0]


@pytest.fixture(scope="session")
def finance_config_path() -> Path:
    from aet.pipelines.domains import shipped_domains

    return shipped_domains()["finance_risk"]


@pytest.fixture
def finance_raw(finance_config_path: Path) -> dict:
    """The shipped finance_risk config as plain data, a fresh copy for each test."""
    return copy.deepcopy(yaml.safe_load(finance_config_path.read_text()))


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict], Path]:
    """Writes a raw config as `config.yaml` in a new folder under tmp_path."""
    counter = iter(range(1_000_000))

    def write(raw: dict, name: str = "config.yaml") -> Path:
        folder = tmp_path / f"domain{next(counter)}"
        folder.mkdir()
        path = folder / name
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    return write


@pytest.fixture
def penguins_config_path(tmp_path: Path, penguins_csv: Path) -> Path:
    return write_penguins_config(tmp_path / "penguins", penguins_csv)


@pytest.fixture
def isolated_logging(monkeypatch):
    """`aet run` re-routes process-wide logging into its log file; put it back after."""
    root, tf_logger = logging.getLogger(), logging.getLogger("tensorflow")
    # pytest adds and removes its own capture handlers around each phase: leave those be.
    handlers = [h for h in root.handlers if not type(h).__module__.startswith("_pytest")]
    level = root.level
    tf_handlers, tf_propagate = list(tf_logger.handlers), tf_logger.propagate
    capturing = logging._warnings_showwarning is not None  # type: ignore[attr-defined]
    absl_verbosity, absl_level = absl_logging.get_verbosity(), absl_logging.get_absl_handler().level
    for name in ("PYTHONWARNINGS", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    yield
    for handler in list(root.handlers):
        if handler not in handlers and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(capturing)
    tf_logger.handlers[:] = tf_handlers
    tf_logger.propagate = tf_propagate
    absl_logging.set_verbosity(absl_verbosity)
    absl_logging.get_absl_handler().setLevel(absl_level)


def pytest_collection_modifyitems(config, items) -> None:
    """End-to-end tests first: on two workers (a file each at a time) the long pipeline
    runs start early and the short unit files fill in around them, instead of one long
    run finishing alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)
