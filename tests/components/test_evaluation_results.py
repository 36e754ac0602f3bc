"""Metrics read back from TFMA's output, named as the summary, the report and the model
card show them: a class's own metrics after the config's class names."""

from __future__ import annotations

import pytest

from aet.components.evaluation import build_eval_config
from aet.components.evaluation_results import read_metrics
from aet.config import load_config
from aet.config.contract import TABULAR_BASELINES
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
    whole_label = {"accuracy", "log_loss", "example_count"}
    assert set(overall) == whole_label | {
        f"{name}[class={species}]" for name in ("auc", "precision", "recall") for species in SPECIES
    } | {f"{name}[{baseline}]" for name in whole_label for baseline in TABULAR_BASELINES}
    # The baselines were handed the model's predictions here: the same figures.
    for baseline in TABULAR_BASELINES:
        assert overall[f"accuracy[{baseline}]"] == overall["accuracy"]
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
    whole_label = {"accuracy", "log_loss", "example_count"}
    assert set(overall) == whole_label | {
        f"{name}[{baseline}]" for name in whole_label for baseline in TABULAR_BASELINES
    }


def test_a_binary_classifiers_curves_come_from_tfmas_plots(tmp_path) -> None:
    from aet.components.evaluation_results import read_curves
    from aet.pipelines.domains import load_domain

    config = load_domain(
        "finance_risk",
        ["evaluation.slices=[]", "evaluation.change_thresholds={}"],
        default_data=True,
    )
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    predictions = [0.05, 0.15, 0.35, 0.62, 0.38, 0.66, 0.85, 0.95]
    curves = read_curves(
        evaluate_predictions(build_eval_config(config), labels, predictions, str(tmp_path))
    )
    assert curves["roc"][0] == (1.0, 1.0)  # every example above the lowest threshold
    assert (0.0, 0.0) in curves["roc"] or curves["roc"][-1][0] == 0.0
    # At 0.5: predicted positive 0.62, 0.66, 0.85, 0.95 -> recall 3/4, 1 false positive of 4.
    assert (0.25, 0.75) in curves["roc"]
    assert sum(count for _, _, count in curves["calibration"]) == len(labels)
    for predicted, observed, _ in curves["calibration"]:
        assert 0 <= predicted <= 1 and observed in (0.0, 0.5, 1.0)


def test_a_multiclass_confusion_matrix_counts_each_example_under_its_top_class(
    per_class_config, per_class_evaluation
) -> None:
    from aet.components.evaluation_results import read_confusion_matrix

    counts = read_confusion_matrix(per_class_evaluation, SPECIES)
    # Rows are labels, columns the top class of MULTICLASS_PROBABILITIES.
    assert counts == [[2, 1, 0], [1, 1, 1], [0, 0, 3]]


def _finance_without_slices(intervals: str):
    from aet.pipelines.domains import load_domain

    return load_domain(
        "finance_risk",
        [
            "evaluation.slices=[]",
            "evaluation.change_thresholds={}",
            f"evaluation.confidence_intervals={intervals}",
        ],
        default_data=True,
    )


def _scored_examples(count: int, seed: int = 0) -> tuple[list[int], list[float]]:
    """Labels and probabilities of a classifier that separates the classes imperfectly."""
    import numpy as np

    generator = np.random.default_rng(seed)
    labels = generator.integers(0, 2, count)
    scores = 1 / (1 + np.exp(-(1.5 * labels - 0.75 + generator.normal(0, 1, count))))
    return labels.tolist(), scores.tolist()


def test_the_config_names_tfmas_interval_method() -> None:
    import tensorflow_model_analysis as tfma

    options = build_eval_config(_finance_without_slices("jackknife")).options
    assert options.compute_confidence_intervals.value
    assert options.confidence_intervals.method == tfma.ConfidenceIntervalOptions.JACKKNIFE


def test_every_metric_gets_a_bootstrap_interval_around_its_estimate(tmp_path) -> None:
    from aet.components.evaluation_results import read_intervals
    from aet.report.model_card import auc_standard_error

    config = _finance_without_slices("bootstrap")
    labels, scores = _scored_examples(400)
    evaluation = evaluate_predictions(
        build_eval_config(config), labels, scores, str(tmp_path), intervals=True
    )
    metrics = read_metrics(evaluation, config)["overall"]
    intervals = read_intervals(evaluation, config)["overall"]
    counts = {name for name in metrics if name.partition("[")[0] == "example_count"}
    assert counts == {"example_count", *(f"example_count[{b}]" for b in TABULAR_BASELINES)}
    assert set(intervals) == set(metrics) - counts
    assert metrics["example_count"] == 400
    for name, (lower, upper) in intervals.items():
        assert lower < upper, name
        assert lower <= metrics[name] <= upper, name
    # A 95 % interval spans about four standard errors of the AUC (Hanley and McNeil).
    positives = sum(labels)
    error = auc_standard_error(metrics["auc"], positives, len(labels) - positives)
    lower, upper = intervals["auc"]
    assert 2 * error < upper - lower < 8 * error


def test_without_intervals_none_are_read(tmp_path) -> None:
    from aet.components.evaluation_results import read_intervals

    config = _finance_without_slices("none")
    labels, scores = _scored_examples(50)
    eval_config = build_eval_config(config)
    assert not eval_config.options.compute_confidence_intervals.value
    evaluation = evaluate_predictions(eval_config, labels, scores, str(tmp_path), intervals=True)
    assert read_intervals(evaluation, config) == {}
    assert read_metrics(evaluation, config)["overall"]["example_count"] == 50
