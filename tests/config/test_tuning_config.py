"""The tuning section of the config schema: a search space the tuner can use loads, and
each mistake in one fails before any component runs, naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from aet.config import load_config
from tests.conftest import config_error_line, shipped_raw_config

SPACE = {
    "embedding_dim": {"choices": [16, 32]},
    "num_heads": {"choices": [2, 4]},
    "dropout": {"min": 0.0, "max": 0.4, "step": 0.1},
    "learning_rate": {"min": 0.0001, "max": 0.01, "log": True},
    "batch_size": {"choices": [32, 64]},
}


@pytest.fixture
def finance_raw_tuned() -> dict:
    raw = shipped_raw_config("finance_risk")
    space = copy.deepcopy(SPACE)
    raw["tuning"] = {"enabled": True, "strategy": "bayesian", "search_space": space}
    return raw


def test_a_search_space_loads_with_safe_budget_defaults(finance_raw_tuned, tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(finance_raw_tuned))
    tuning = load_config(path).tuning
    assert tuning.enabled and tuning.strategy == "bayesian"
    assert tuning.search_space["dropout"].values() == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert tuning.search_space["learning_rate"].values() is None  # continuous
    assert (tuning.max_trials, tuning.epochs_per_trial, tuning.max_wall_clock_s) == (6, 5, 900)
    assert tuning.median_stop_after == 3 and not tuning.reuse_last


def test_tuning_is_off_unless_asked_for() -> None:
    for domain in ("finance_risk", "medical_imaging", "recommendation"):
        assert "enabled" not in shipped_raw_config(domain)["tuning"]
        assert load_config(_shipped(domain)).tuning.enabled is False


def _shipped(domain: str) -> Path:
    from aet.pipelines.domains import shipped_domains

    return shipped_domains()[domain]


@pytest.mark.parametrize(
    ("field", "dimension", "says"),
    [
        ("tuning.search_space.depth", {"choices": [1, 2]}, "cannot be tuned"),
        ("tuning.search_space.num_layers", {"choices": [1, 2.5]}, "whole numbers"),
        ("tuning.search_space.dropout.max", {"min": 0.3, "max": 0.1}, "must be above min"),
        ("tuning.search_space.dropout", {"min": 0.1, "max": 1.5}, "not a valid dropout"),
        ("tuning.search_space.learning_rate.min", {"min": 0.0, "max": 0.1, "log": True}, "> 0"),
        ("tuning.search_space.dropout", {"choices": [0.1], "min": 0.0}, "either choices"),
        ("tuning.search_space.dropout", {"max": 0.5}, "both min and max"),
    ],
)
def test_a_bad_dimension_is_named(finance_raw_tuned, tmp_path, field, dimension, says) -> None:
    name = field.split(".")[2]
    finance_raw_tuned["tuning"]["search_space"][name] = dimension
    assert says in config_error_line(finance_raw_tuned, tmp_path, field)


def test_every_width_must_divide_by_every_head_count(finance_raw_tuned, tmp_path) -> None:
    finance_raw_tuned["tuning"]["search_space"]["num_heads"] = {"choices": [2, 3]}
    line = config_error_line(finance_raw_tuned, tmp_path, "tuning.search_space.num_heads")
    assert "embedding_dim 16 is not divisible by num_heads 3" in line


def test_a_width_range_needs_a_step(finance_raw_tuned, tmp_path) -> None:
    finance_raw_tuned["tuning"]["search_space"]["embedding_dim"] = {"min": 16, "max": 64}
    line = config_error_line(finance_raw_tuned, tmp_path, "tuning.search_space")
    assert "need choices or a step" in line


def test_tuning_on_with_nothing_to_search_is_refused(finance_raw_tuned, tmp_path) -> None:
    finance_raw_tuned["tuning"]["search_space"] = {}
    line = config_error_line(finance_raw_tuned, tmp_path, "tuning.search_space")
    assert "nothing is searched" in line


def test_trials_are_ranked_by_the_monitor_unless_an_objective_is_given(
    finance_raw_tuned, tmp_path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(finance_raw_tuned))
    assert load_config(path).tuning_objective == finance_raw_tuned["training"]["elastic"]["monitor"]
    assert load_config(_shipped("finance_risk")).tuning_objective == "val_auc"


@pytest.mark.parametrize("objective", ["val_ndcg", "auc", "loss"])
def test_an_objective_that_is_no_validation_metric_is_named(
    finance_raw_tuned, tmp_path, objective
) -> None:
    finance_raw_tuned["tuning"]["objective"] = objective
    line = config_error_line(finance_raw_tuned, tmp_path, "tuning.objective")
    assert f"'{objective}' is not a validation metric of a binary model" in line
