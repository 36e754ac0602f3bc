"""config/metrics.py: one declaration per metric, read by config validation, the Trainer,
the Evaluator and the elastic callbacks."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import tensorflow_model_analysis as tfma

from aet.config import ConfigError, load_config
from aet.config.metrics import (
    KERAS,
    METRICS,
    EvaluationSettings,
    Metric,
    MetricClass,
    direction_of,
    keras_mode,
    monitorable,
    training_metrics,
)


def _resolves(spec: MetricClass) -> bool:
    module = importlib.import_module(spec.module) if spec.module else tfma.metrics
    return hasattr(module, spec.class_name)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_declared_class_exists(name: str) -> None:
    metric = METRICS[name]
    settings = EvaluationSettings()
    for task, classes in metric.evaluation.items():
        for spec in classes(settings):
            assert _resolves(spec), (name, task, spec)
    for task, spec in metric.training.items():
        assert spec is None or _resolves(spec), (name, task, spec)


def test_training_metrics_and_what_can_be_watched_per_task() -> None:
    assert training_metrics("binary") == ["loss", "auc", "pr_auc", "ks", "accuracy"]
    assert training_metrics("multiclass") == ["loss", "accuracy"]
    # A recommender ranks on validation only.
    assert "ndcg" not in monitorable("ranking") and "val_ndcg" in monitorable("ranking")
    assert "loss" in monitorable("ranking")


def test_directions_come_from_the_declaration_not_the_name() -> None:
    assert direction_of("val_log_loss") == "lower_is_better"
    assert direction_of("brier") == "lower_is_better"
    assert keras_mode("val_loss") == "min" and keras_mode("val_ks") == "max"
    with pytest.raises(ValueError, match="neither rises nor falls"):
        direction_of("calibration")


def test_a_change_threshold_takes_its_direction_from_the_metric(write_config, finance_raw):
    finance_raw["evaluation"]["change_thresholds"] = {"brier": {"absolute": 0.01}}
    finance_raw["evaluation"]["metrics"].append("brier")
    config = load_config(write_config(finance_raw))
    assert config.evaluation.change_thresholds["brier"].direction == "lower_is_better"


def test_a_metric_without_a_direction_needs_one_for_a_change_threshold(write_config, finance_raw):
    finance_raw["evaluation"]["metrics"].append("calibration")
    finance_raw["evaluation"]["change_thresholds"] = {"calibration": {"absolute": 0.1}}
    with pytest.raises(ConfigError, match=r"change_thresholds\.calibration\.direction"):
        load_config(write_config(finance_raw))


def test_adding_a_metric_is_one_declaration(monkeypatch, write_config, finance_raw, transform_run):
    """A declared metric is accepted by the config, gated by the Evaluator, computed by
    the Trainer and watchable by the callbacks, with nothing else changed."""
    from aet.components.evaluation import build_eval_config
    from aet.components.features import transformed_name
    from aet.components.trainer import build_model

    hinge = MetricClass("Hinge", KERAS, {"name": "hinge"})
    monkeypatch.setitem(
        METRICS,
        "hinge",
        Metric(
            "hinge",
            "lower_is_better",
            evaluation={"binary": lambda settings: [hinge]},
            training={"binary": hinge},
        ),
    )
    finance_raw["evaluation"]["metrics"].append("hinge")
    finance_raw["evaluation"]["thresholds"]["hinge"] = {"upper": 2.0}
    finance_raw["training"]["elastic"]["monitor"] = "val_hinge"
    config = load_config(write_config(finance_raw))

    spec = build_eval_config(config).metrics_specs[0]  # the model's own, gated
    (gated,) = [metric for metric in spec.metrics if metric.class_name == "Hinge"]
    assert gated.per_slice_thresholds[0].threshold.value_threshold.upper_bound.value == 2.0
    model = build_model(config, transform_run.tf_transform_output)
    rows = transform_run.train_transformed[:16]
    x = {key: np.stack([row[key] for row in rows]) for key in model.input}
    y = np.stack([row[transformed_name("creditability")] for row in rows]).astype(np.float32)
    assert "hinge" in model.evaluate(x, y, return_dict=True, verbose=0)
    assert "val_hinge" in monitorable("binary")


def test_a_metric_that_does_not_score_the_task_is_refused(monkeypatch, write_config, finance_raw):
    top_k = MetricClass("SparseTopKCategoricalAccuracy", KERAS, {"name": "top_k"})
    monkeypatch.setitem(
        METRICS,
        "top_k",
        Metric("top_k", "higher_is_better", evaluation={"multiclass": lambda _: [top_k]}),
    )
    finance_raw["evaluation"]["metrics"].append("top_k")
    with pytest.raises(ConfigError, match=r"\['top_k'\] do not score binary models"):
        load_config(write_config(finance_raw))
