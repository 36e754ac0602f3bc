"""`components.evaluation.build_eval_config`: the TFMA config that blesses a model."""

from __future__ import annotations

import json

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs

from aet.components.evaluation import CURVE_PLOTS, build_eval_config, tfma_metric_name
from aet.components.evaluation_results import MODEL_OUTPUTS
from aet.config import ConfigError, load_config
from tests.tfma_fixture import (
    MULTICLASS_LABELS,
    MULTICLASS_PROBABILITIES,
    PER_CLASS_PRECISION,
    PER_CLASS_RECALL,
    evaluate_predictions,
)

KERAS = "tensorflow.keras.metrics"


@pytest.fixture(scope="module")
def eval_config(finance_config) -> tfma.EvalConfig:
    return build_eval_config(finance_config)


def _metrics(eval_config: tfma.EvalConfig) -> list:
    """The model's own metrics: the first spec (its baselines' spec comes last)."""
    return list(eval_config.metrics_specs[0].metrics)


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
    assert model_spec.signature_name == "serve_examples"
    # The model's probability and its two baselines', each against the transformed label.
    assert dict(model_spec.label_keys) == dict.fromkeys(
        ["probability", "logistic_regression", "boosted_trees"], "creditability_xf"
    )
    assert list(model_spec.preprocessing_function_names) == ["transform_features"]


def test_the_baselines_get_the_models_metrics_ungated_and_for_the_new_model_only(eval_config):
    model, baselines = eval_config.metrics_specs
    assert list(model.output_names) == ["probability"]
    assert list(baselines.output_names) == ["logistic_regression", "boosted_trees"]
    assert list(baselines.model_names) == [tfma.CANDIDATE_KEY]
    config_metrics = [m for m in model.metrics if m not in CURVE_PLOTS]
    assert [m.class_name for m in baselines.metrics] == [m.class_name for m in config_metrics]
    assert any(m.per_slice_thresholds for m in model.metrics)
    assert not any(m.per_slice_thresholds for m in baselines.metrics)


def test_an_image_model_has_no_baselines_and_one_unnamed_output():
    from aet.pipelines.domains import load_domain

    eval_config = build_eval_config(load_domain("medical_imaging"))
    (model_spec,) = eval_config.model_specs
    assert model_spec.prediction_key == "probability" and not model_spec.label_keys
    assert [list(spec.output_names) for spec in eval_config.metrics_specs] == [[]]


def test_every_model_is_declared_keras_so_tfma_never_loads_it_to_find_out(eval_config, tmp_path):
    from tensorflow_model_analysis.utils import model_util

    (model_spec,) = eval_config.model_specs
    nothing_there = str(tmp_path / "no-model")
    assert model_util.get_model_type(model_spec, nothing_there) == tfma.constants.TF_KERAS


def test_only_the_configs_metrics_are_computed_not_the_models_compiled_ones(eval_config):
    """The config declares every metric reported; TFMA would load the model again for
    each combiner of its compiled metrics."""
    options = eval_config.options  # unset means included
    assert options.HasField("include_default_metrics")
    assert options.include_default_metrics.value is False


def test_every_configured_metric_is_computed(finance_config, eval_config):
    assert finance_config.evaluation.metrics == [
        "auc", "pr_auc", "ks", "brier", "calibration", "accuracy", "log_loss", "sensitivity",
        "specificity",
    ]  # fmt: skip
    metrics = _by_name(eval_config)
    assert {"ExampleCount", "auc", "pr_auc", "ks", "brier_score", "accuracy", "log_loss"} <= set(
        metrics
    )
    assert metrics["auc"].class_name == "AUC" and metrics["auc"].module == KERAS
    assert json.loads(metrics["pr_auc"].config)["curve"] == "PR"
    assert metrics["ks"].class_name == "KolmogorovSmirnov"
    assert metrics["ks"].module == "aet.components.metrics"
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
        "mean_prediction", "calibration_plot", "accuracy", "log_loss", "sensitivity",
        "specificity", "confusion_matrix_plot",  # the last: the report's ROC and PR curves
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
# A three-class model has no val_auc to rank tuning trials by.
THREE_CLASS_OBJECTIVE = "tuning.objective=val_accuracy"


def test_binary_only_metrics_are_refused_for_three_classes(finance_config):
    with pytest.raises(ConfigError, match="need a binary label"):
        load_config(_config_path(finance_config), [THREE_CLASSES])


def test_three_classes_use_sparse_categorical_metrics(finance_config):
    config = load_config(
        _config_path(finance_config),
        [
            THREE_CLASSES,
            THREE_CLASS_OBJECTIVE,
            "evaluation.metrics=[accuracy, log_loss]",
            "evaluation.thresholds={accuracy: {lower: 0.5}}",
            "evaluation.change_thresholds={}",
        ],
    )
    eval_config = build_eval_config(config)
    (model_spec,) = eval_config.model_specs
    assert model_spec.label_keys["probabilities"] == "creditability_xf"
    metrics = _by_name(eval_config)
    assert set(metrics) == {"ExampleCount", "accuracy", "log_loss", "MultiClassConfusionMatrixPlot"}
    assert _reported_names(eval_config) == {
        "example_count", "accuracy", "log_loss", "multi_class_confusion_matrix_plot",
    }  # fmt: skip
    assert metrics["accuracy"].class_name == "SparseCategoricalAccuracy"
    assert metrics["accuracy"].module == KERAS
    assert metrics["log_loss"].class_name == "SparseCategoricalCrossentropy"
    threshold = metrics["accuracy"].per_slice_thresholds[0].threshold
    assert threshold.value_threshold.lower_bound.value == pytest.approx(0.5)


# --- sensitivity and specificity (binary) ---------------------------------------------


def _overall(output: str) -> dict[str, dict[str, float]]:
    """sub-key ('' or 'classId:N') -> metric name -> value, for the overall slice."""
    ((slice_key, by_output),) = tfma.load_eval_result(output).slicing_metrics
    assert slice_key == ()
    (model_output,) = {"", *MODEL_OUTPUTS} & set(by_output)  # the baselines' are named
    return {
        sub_key: {name: value["doubleValue"] for name, value in metrics.items()}
        for sub_key, metrics in by_output[model_output].items()
    }


SENSITIVITY_OVERRIDES = [
    "evaluation.metrics=[auc, sensitivity, specificity]",
    "evaluation.thresholds={sensitivity: {lower: 0.7}, specificity: {lower: 0.7}}",
    "evaluation.change_thresholds={specificity: {direction: higher_is_better, absolute: -0.05}}",
    "evaluation.slices=[]",
    "evaluation.decision_threshold=0.4",
]


@pytest.fixture(scope="module")
def sensitivity_config(finance_config):
    return load_config(_config_path(finance_config), SENSITIVITY_OVERRIDES)


def test_sensitivity_and_specificity_are_computed_at_the_decision_threshold(sensitivity_config):
    eval_config = build_eval_config(sensitivity_config)
    metrics = _by_name(eval_config)
    assert metrics["sensitivity"].class_name == "Recall"
    assert metrics["specificity"].class_name == "Specificity"
    for name in ("sensitivity", "specificity"):
        assert tfma_metric_name(name) == name
        assert json.loads(metrics[name].config) == {"name": name, "thresholds": 0.4}
        (per_slice,) = metrics[name].per_slice_thresholds
        assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
        assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.7)
    change = metrics["specificity"].per_slice_thresholds[0].threshold.change_threshold
    assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert change.absolute.value == pytest.approx(-0.05)
    assert _reported_names(eval_config) == {
        "example_count", "auc", "sensitivity", "specificity", "confusion_matrix_plot",
        "calibration_plot",  # the report's curves
    }  # fmt: skip
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config
    )
    assert {(key.name, key.is_diff) for key in thresholds} == {
        ("sensitivity", False), ("specificity", False), ("specificity", True),
    }  # fmt: skip
    model, baselines = eval_config.metrics_specs
    assert not model.HasField("binarize") and not baselines.HasField("binarize")


# Positive class 1; at the decision threshold 0.4 (not the default 0.5, which would give
# sensitivity 2/4 and specificity 5/6):
#   positives 0.9, 0.45, 0.7 predicted positive, 0.3 not  -> TP 3, FN 1
#   negatives 0.41, 0.6 predicted positive, 4 others not  -> FP 2, TN 4
BINARY_LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
BINARY_PROBABILITIES = [0.9, 0.45, 0.3, 0.7, 0.1, 0.41, 0.2, 0.39, 0.6, 0.05]


def test_tfma_measures_sensitivity_and_specificity_and_gates_on_them(finance_config, tmp_path):
    # Without the change threshold: run_model_analysis has no baseline and, unlike the
    # Evaluator's first run, cannot rubber-stamp.
    config = load_config(
        _config_path(finance_config), [*SENSITIVITY_OVERRIDES, "evaluation.change_thresholds={}"]
    )
    output = evaluate_predictions(
        build_eval_config(config), BINARY_LABELS, BINARY_PROBABILITIES, str(tmp_path)
    )
    overall = _overall(output)[""]
    assert overall["example_count"] == 10
    assert overall["sensitivity"] == pytest.approx(3 / (3 + 1))  # TP / (TP + FN)
    assert overall["specificity"] == pytest.approx(4 / (4 + 2))  # TN / (TN + FP)
    # Both gated at >= 0.7: sensitivity 0.75 passes, specificity 0.667 fails.
    validation = tfma.load_validation_result(output)
    assert not validation.validation_ok
    failed = [
        (failure.metric_key.name, failure.metric_value.double_value.value)
        for per_slice in validation.metric_validations_per_slice
        for failure in per_slice.failures
    ]
    assert failed == [("specificity", pytest.approx(4 / 6))]


# --- per-class metrics (multi-class) ---------------------------------------------------

PER_CLASS_OVERRIDES = [
    THREE_CLASSES,
    THREE_CLASS_OBJECTIVE,
    "evaluation.metrics=[accuracy, log_loss]",
    "evaluation.thresholds={accuracy: {lower: 0.5}}",
    "evaluation.change_thresholds={}",
    "evaluation.slices=[]",
    "evaluation.per_class=true",
]


def test_per_class_metrics_binarize_every_class_only_when_asked(finance_config):
    config = load_config(_config_path(finance_config), PER_CLASS_OVERRIDES)
    eval_config = build_eval_config(config)
    overall, per_class, _ = eval_config.metrics_specs
    assert not overall.HasField("binarize")
    assert list(per_class.binarize.class_ids.values) == [0, 1, 2]
    metrics = {json.loads(m.config)["name"]: m for m in per_class.metrics}
    assert set(metrics) == {"auc", "precision", "recall"}
    for name in ("precision", "recall"):
        assert json.loads(metrics[name].config)["thresholds"] == 0.5
    # Reported, not gated: the thresholds stay on the overall metrics.
    assert not any(m.per_slice_thresholds for m in per_class.metrics)
    computations = metric_specs.to_computations(eval_config.metrics_specs, eval_config)
    class_keys = {
        (key.name, key.sub_key.class_id)
        for c in computations
        for key in c.keys
        if key.sub_key is not None and not key.name.startswith("_")
    }
    assert class_keys == {(name, i) for name in ("auc", "precision", "recall") for i in range(3)}

    without = load_config(_config_path(finance_config), PER_CLASS_OVERRIDES[:-1])
    spec, _ = build_eval_config(without).metrics_specs
    assert not spec.HasField("binarize")


def test_tfma_measures_one_vs_rest_recall_and_precision_per_class(finance_config, tmp_path):
    config = load_config(_config_path(finance_config), PER_CLASS_OVERRIDES)
    output = evaluate_predictions(
        build_eval_config(config), MULTICLASS_LABELS, MULTICLASS_PROBABILITIES, str(tmp_path)
    )
    by_sub_key = _overall(output)
    assert by_sub_key[""]["accuracy"] == pytest.approx(6 / 9)  # arg-max right in 6 rows
    for class_id in range(3):
        metrics = by_sub_key[f"classId:{class_id}"]
        assert metrics["recall"] == pytest.approx(PER_CLASS_RECALL[class_id])
        assert metrics["precision"] == pytest.approx(PER_CLASS_PRECISION[class_id])
    # Class 2's probability ranks its three rows above all six others.
    assert by_sub_key["classId:2"]["auc"] == pytest.approx(1.0)
