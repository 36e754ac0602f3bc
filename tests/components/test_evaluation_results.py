"""Metrics read back from TFMA's output, named as the summary, the report and the model
card show them: a class's own metrics after the config's class names."""

from __future__ import annotations

import pytest

from aet.components.evaluation import build_eval_config
from aet.components.evaluation_results import read_metrics
from aet.config import load_config
from tests.penguins_domain import write_penguins_config
from tests.tfma_fixture import (
    MULTICLASS_LABELS,
    MULTICLASS_PROBABILITIES,
    PER_CLASS_PRECISION,
    PER_CLASS_RECALL,
    evaluate_predictions,
)

SPECIES = ["Adelie", "Chinstrap", "Gentoo"]


@pytest.fixture(scope="module")
def penguins_path(tmp_path_factory, penguins_csv):
    return write_penguins_config(tmp_path_factory.mktemp("penguins"), penguins_csv)


@pytest.fixture(scope="module")
def per_class_config(penguins_path):
    return load_config(
        penguins_path, [f"features.label.classes={SPECIES}", "evaluation.per_class=true"]
    )


@pytest.fixture(scope="module")
def per_class_evaluation(tmp_path_factory, per_class_config) -> str:
    """TFMA's output for hand-made three-class predictions, with per-class metrics."""
    return evaluate_predictions(
        build_eval_config(per_class_config),
        MULTICLASS_LABELS,
        MULTICLASS_PROBABILITIES,
        str(tmp_path_factory.mktemp("evaluation")),
    )


def test_per_class_metrics_are_named_after_the_config_classes(
    per_class_config, per_class_evaluation
):
    metrics = read_metrics(per_class_evaluation, per_class_config)
    assert list(metrics) == ["overall"]
    overall = metrics["overall"]
    assert set(overall) == {"accuracy", "log_loss", "example_count"} | {
        f"{name}[class={species}]" for name in ("auc", "precision", "recall") for species in SPECIES
    }
    # Whole-label metrics keep their plain names.
    assert overall["example_count"] == 9
    assert overall["accuracy"] == round(6 / 9, 6)
    for species, recall, precision in zip(
        SPECIES, PER_CLASS_RECALL, PER_CLASS_PRECISION, strict=True
    ):
        assert overall[f"recall[class={species}]"] == round(recall, 6)
        assert overall[f"precision[class={species}]"] == round(precision, 6)
    assert overall["auc[class=Gentoo]"] == pytest.approx(1.0)


def test_without_per_class_the_class_metrics_are_left_out(penguins_path, per_class_evaluation):
    config = load_config(penguins_path, [f"features.label.classes={SPECIES}"])
    (overall,) = read_metrics(per_class_evaluation, config).values()
    assert set(overall) == {"accuracy", "log_loss", "example_count"}
