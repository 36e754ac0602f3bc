"""The recommendation parts of the config schema: the shipped config, and mistakes that
mix a recommender with a classifier's settings, named by field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aet.pipelines.domains import load_domain
from tests.conftest import config_error_line, shipped_raw_config


@pytest.fixture
def recommendation_raw() -> dict:
    return shipped_raw_config("recommendation")


def test_shipped_recommendation_config_loads() -> None:
    config = load_domain("recommendation")
    assert config.task == "ranking" and not config.is_binary
    assert config.data.format == "interactions" and config.model.architecture == "sasrec"
    assert config.features.label is None and config.features.sequence.max_length == 200
    assert config.training.elastic.monitor == "val_ndcg"
    assert {"ndcg", "hit_rate", "ndcg_sampled", "hit_rate_sampled", "coverage"} == set(
        config.evaluation.metrics
    )


def _classifier_metric(raw: dict) -> None:
    raw["evaluation"]["metrics"].append("auc")


def _label_beside_the_sequence(raw: dict) -> None:
    raw["features"]["label"] = {"name": "liked", "classes": ["no", "yes"]}


def _csv_format_with_a_sequence(raw: dict) -> None:
    raw["data"]["format"] = "csv"


def _tabular_model_for_histories(raw: dict) -> None:
    raw["model"]["architecture"] = "ft_transformer"


def _training_ranking_monitor(raw: dict) -> None:
    raw["training"]["elastic"]["monitor"] = "ndcg"  # computed on validation only


def _too_few_interactions(raw: dict) -> None:
    raw["data"]["min_interactions"] = 2


def _one_item_history(raw: dict) -> None:
    raw["features"]["sequence"]["max_length"] = 1


BAD_RECOMMENDATION_CONFIGS: dict[str, tuple[Callable[[dict], None], str, str]] = {
    "a classifier's metric": (
        _classifier_metric,
        "evaluation.metrics",
        "['auc'] score classifiers",
    ),
    "a label beside the sequence": (
        _label_beside_the_sequence,
        "features.sequence",
        "takes no label",
    ),
    "a sequence with csv data": (
        _csv_format_with_a_sequence,
        "features.sequence",
        "is for interaction logs; data.format 'csv' reads no item histories",
    ),
    "a tabular model": (
        _tabular_model_for_histories,
        "model.architecture",
        "choose one of ['sasrec']",
    ),
    "a training-split ranking monitor": (
        _training_ranking_monitor,
        "training.elastic.monitor",
        "'ndcg' is not computed when training a ranking model",
    ),
    "fewer than 3 interactions": (_too_few_interactions, "data.min_interactions", "3"),
    "a one-item history": (_one_item_history, "features.sequence.max_length", "2"),
}


@pytest.mark.parametrize("case", BAD_RECOMMENDATION_CONFIGS)
def test_bad_recommendation_config_names_the_field(
    case: str, recommendation_raw: dict, tmp_path: Path
) -> None:
    mutate, field, problem = BAD_RECOMMENDATION_CONFIGS[case]
    mutate(recommendation_raw)
    assert problem in config_error_line(recommendation_raw, tmp_path, field)


def test_a_classifier_is_refused_a_ranking_metric(tmp_path: Path) -> None:
    raw = shipped_raw_config("finance_risk")
    raw["evaluation"]["metrics"].append("ndcg")
    line = config_error_line(raw, tmp_path, "evaluation.metrics")
    assert "['ndcg'] score recommenders" in line
