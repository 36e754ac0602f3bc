"""`components.evaluation.build_eval_config`: the TFMA config that blesses a model."""

from __future__ import annotations

import json

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs

from components.evaluation import build_eval_config, tfma_metric_name
from pipelines.config import ConfigError, load_config

KERAS = "tensorflow.keras.metrics"


@pytest.fixture(scope="module")
def eval_config(finance_config) -> tfma.EvalConfig:
    return build_eval_config(finance_config)


def _metrics(eval_config: tfma.EvalConfig) -> list:
    (spec,) = eval_config.metrics_specs
    return list(spec.metrics)


def _by_name(eval_config: tfma.EvalConfig) -> dict:
    """Reported metric name -> MetricConfig (name from the config, else the class name)."""
    found = {}
    for metric in _metrics(eval_config):
        name = json.loads(metric.config).get("name") if metric.config else None
        found[name or metric.class_name] = metric
    return found


def _config_path(finance_config):
    return finance_config.source_dir / "config.yaml"


def test_model_spec_reads_the_serving_signature_and_transformed_label(eval_config):
    (model_spec,) = eval_config.model_specs
    assert model_spec.signature_name == "serving_default"
    assert model_spec.label_key == "creditability_xf"
    assert model_spec.prediction_key == "probability"
    assert list(model_spec.preprocessing_function_names) == ["transform_features"]


def test_every_configured_metric_is_computed(finance_config, eval_config):
    assert finance_config.evaluation.metrics == [
        "auc", "pr_auc", "ks", "brier", "calibration", "accuracy", "log_loss",
    ]  # fmt: skip
    metrics = _by_name(eval_config)
    assert {"ExampleCount", "auc", "pr_auc", "ks", "brier_score", "accuracy", "log_loss"} <= set(
        metrics
    )
    assert metrics["auc"].class_name == "AUC" and metrics["auc"].module == KERAS
    assert json.loads(metrics["pr_auc"].config)["curve"] == "PR"
    assert metrics["ks"].class_name == "KolmogorovSmirnov"
    assert metrics["ks"].module == "components.metrics"
    assert metrics["brier_score"].class_name == "MeanSquaredError"
    assert metrics["log_loss"].class_name == "BinaryCrossentropy"
    accuracy = json.loads(metrics["accuracy"].config)
    assert metrics["accuracy"].class_name == "BinaryAccuracy"
    assert accuracy["threshold"] == finance_config.evaluation.decision_threshold
    calibration = {"Calibration", "MeanLabel", "MeanPrediction", "CalibrationPlot"}
    assert calibration <= {m.class_name for m in _metrics(eval_config)}


def _reported_names(eval_config: tfma.EvalConfig) -> set[str]:
    """The metric names TFMA itself derives from the config (it builds every metric)."""
    computations = metric_specs.to_computations(eval_config.metrics_specs, eval_config)
    return {key.name for c in computations for key in c.keys if not key.name.startswith("_")}


def test_tfma_builds_every_metric_under_its_reported_name(eval_config):
    assert _reported_names(eval_config) == {
        "example_count", "auc", "pr_auc", "ks", "brier_score", "calibration", "mean_label",
        "mean_prediction", "calibration_plot", "accuracy", "log_loss",
    }  # fmt: skip


def test_thresholds_name_metrics_tfma_reports(eval_config):
    assert tfma_metric_name("brier") == "brier_score"
    assert tfma_metric_name("auc") == "auc"
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config
    )
    keys = {(key.name, key.is_diff) for key in thresholds}
    assert keys == {("auc", False), ("auc", True)}
    assert {name for name, _ in keys} <= _reported_names(eval_config)


def test_auc_gate_has_an_absolute_and_a_change_threshold_on_the_overall_slice(eval_config):
    auc = _by_name(eval_config)["auc"]
    (per_slice,) = auc.per_slice_thresholds
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
    threshold = per_slice.threshold
    assert threshold.value_threshold.lower_bound.value == pytest.approx(0.65)
    assert not threshold.value_threshold.HasField("upper_bound")
    assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert threshold.change_threshold.absolute.value == pytest.approx(-0.02)
    # The gated slice must be one TFMA computes.
    assert tfma.SlicingSpec() in eval_config.slicing_specs


def test_slices_are_overall_age_band_and_foreign_worker(eval_config):
    specs = [list(spec.feature_keys) for spec in eval_config.slicing_specs]
    assert specs == [[], ["age_band"], ["foreign_worker"]]


def test_upper_bound_and_lower_is_better_are_written(finance_config):
    config = load_config(
        _config_path(finance_config),
        [
            "evaluation.thresholds={brier: {upper: 0.25}}",
            "evaluation.change_thresholds={brier: {direction: lower_is_better, absolute: 0.01}}",
        ],
    )
    brier = _by_name(build_eval_config(config))["brier_score"]
    threshold = brier.per_slice_thresholds[0].threshold
    assert threshold.value_threshold.upper_bound.value == pytest.approx(0.25)
    assert not threshold.value_threshold.HasField("lower_bound")
    assert threshold.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert threshold.change_threshold.absolute.value == pytest.approx(0.01)
    assert not _by_name(build_eval_config(config))["auc"].per_slice_thresholds


# --- multi-class ----------------------------------------------------------------------

THREE_CLASSES = "features.label.classes=[good, bad, unknown]"


def test_binary_only_metrics_are_refused_for_three_classes(finance_config):
    with pytest.raises(ConfigError, match="need a binary label"):
        load_config(_config_path(finance_config), [THREE_CLASSES])


def test_three_classes_use_sparse_categorical_metrics(finance_config):
    config = load_config(
        _config_path(finance_config),
        [
            THREE_CLASSES,
            "evaluation.metrics=[accuracy, log_loss]",
            "evaluation.thresholds={accuracy: {lower: 0.5}}",
            "evaluation.change_thresholds={}",
        ],
    )
    eval_config = build_eval_config(config)
    (model_spec,) = eval_config.model_specs
    assert model_spec.prediction_key == "probabilities"
    assert model_spec.label_key == "creditability_xf"
    metrics = _by_name(eval_config)
    assert set(metrics) == {"ExampleCount", "accuracy", "log_loss"}
    assert _reported_names(eval_config) == {"example_count", "accuracy", "log_loss"}
    assert metrics["accuracy"].class_name == "SparseCategoricalAccuracy"
    assert metrics["accuracy"].module == KERAS
    assert metrics["log_loss"].class_name == "SparseCategoricalCrossentropy"
    threshold = metrics["accuracy"].per_slice_thresholds[0].threshold
    assert threshold.value_threshold.lower_bound.value == pytest.approx(0.5)
