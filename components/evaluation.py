"""The TFMA EvalConfig for a domain: metrics, slices and the thresholds that bless a model.

Absolute thresholds must hold for every candidate; change thresholds compare it with
the last blessed model (TFMA skips them when no baseline exists yet, so the first
good model is blessed on the absolute thresholds alone).
"""

from __future__ import annotations

import functools
import json

import tensorflow as tf
import tensorflow_model_analysis as tfma

from aet.components.attention import PositionEmbedding, TransformerBlock
from aet.components.layers import VariableDropout
from aet.components.metrics import KolmogorovSmirnov
from aet.components.models.attention_cnn import (
    ChannelSpatialAttention,
    ImageAugmentation,
    PatchTokens,
)
from aet.components.models.ft_transformer import ClsToken, NumericTokenizer
from aet.components.models.sasrec import SequentialRecommender
from aet.components.models.wide_and_deep import ResidualGate
from aet.components.optimizers import AdamWVariableDecay, LayerwiseOptimizer
from aet.components.ranking_metrics import HitRate, NDCGAtCutoff
from aet.config import Bound, ChangeThreshold, DomainConfig
from aet.config.contract import CLASSIFIER_OUTPUTS
from aet.config.kinds import kind_of
from aet.config.metrics import METRICS, PER_CLASS_METRICS, EvaluationSettings, MetricClass


def _settings(config: DomainConfig) -> EvaluationSettings:
    evaluation = config.evaluation
    return EvaluationSettings(
        decision_threshold=evaluation.decision_threshold,
        cutoff=evaluation.cutoff,
        sampled_negatives=evaluation.sampled_negatives,
    )


def _metric_configs(classes: list[MetricClass]) -> list[tfma.MetricConfig]:
    metrics = []
    for spec in classes:
        metric = tfma.MetricConfig(class_name=spec.class_name, module=spec.module)
        if spec.config:
            metric.config = json.dumps(dict(spec.config))
        metrics.append(metric)
    return metrics


def _per_class_metrics_spec(config: DomainConfig, outputs: list[str]) -> tfma.MetricsSpec:
    """One-vs-rest AUC, precision and recall for every class: TFMA binarizes the label
    and the class's probability (predicted when >= evaluation.decision_threshold)."""
    settings = _settings(config)
    classes = [
        spec for name in PER_CLASS_METRICS for spec in METRICS[name].evaluation["binary"](settings)
    ]
    return tfma.MetricsSpec(
        metrics=_metric_configs(classes),
        binarize=tfma.BinarizationOptions(
            class_ids={"values": list(range(len(config.features.label.classes)))}
        ),
        output_names=outputs,
    )


def tfma_metric_name(name: str) -> str:
    """The name under which TFMA reports (and thresholds) a config metric."""
    return METRICS[name].tfma_name


def _threshold(bound: Bound | None, change: ChangeThreshold | None) -> tfma.MetricThreshold | None:
    if bound is None and change is None:
        return None
    threshold = tfma.MetricThreshold()
    if bound is not None:
        if bound.lower is not None:
            threshold.value_threshold.lower_bound.value = bound.lower
        if bound.upper is not None:
            threshold.value_threshold.upper_bound.value = bound.upper
    if change is not None:
        threshold.change_threshold.direction = (
            tfma.MetricDirection.HIGHER_IS_BETTER
            if change.direction == "higher_is_better"
            else tfma.MetricDirection.LOWER_IS_BETTER
        )
        threshold.change_threshold.absolute.value = change.absolute
    return threshold


def config_metrics(config: DomainConfig, gated: bool) -> list[tfma.MetricConfig]:
    """The config's metrics as their declarations build them for the model's task, each
    with its thresholds when `gated`."""
    evaluation = config.evaluation
    settings = _settings(config)
    metrics = [tfma.MetricConfig(class_name="ExampleCount")]
    for name in evaluation.metrics:
        classes = METRICS[name].evaluation[config.task](settings)
        for index, metric in enumerate(_metric_configs(classes)):
            if index == 0 and gated:
                threshold = _threshold(
                    evaluation.thresholds.get(name), evaluation.change_thresholds.get(name)
                )
                if threshold is not None:
                    # Gate on the whole held-out split only: slices are reported, not gated.
                    metric.per_slice_thresholds.append(
                        tfma.PerSliceMetricThreshold(
                            slicing_specs=[tfma.SlicingSpec()], threshold=threshold
                        )
                    )
            metrics.append(metric)
    return metrics


# A binary classifier's ROC, precision-recall and reliability curves in the run report:
# TFMA's confusion matrices at 100 thresholds and its calibration histogram.
CURVE_PLOTS = [
    tfma.MetricConfig(class_name="ConfusionMatrixPlot", config=json.dumps({"num_thresholds": 100})),
    tfma.MetricConfig(class_name="CalibrationPlot", config=json.dumps({"num_buckets": 10})),
]


# A multi-class classifier's confusion matrix in the run report (each example counted
# under its top class: TFMA's default threshold of 0).
CONFUSION_MATRIX_PLOT = tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot")


def classifier_output(config: DomainConfig) -> str:
    """The name of a classifier's own answer in `serve_examples`."""
    binary, multiclass = CLASSIFIER_OUTPUTS
    return binary if config.is_binary else multiclass


def classifier_eval_config(
    config: DomainConfig, label_key: str, baselines: tuple[str, ...] = ()
) -> tfma.EvalConfig:
    """A classifier's metrics on the transformed label, overall, per slice and (for a
    multi-class label with `evaluation.per_class`) per class; a binary one's curves, a
    multi-class one's confusion matrix. The `baselines` (outputs of `serve_examples`
    beside the model's) get the same metrics, ungated, and only for the new model: a
    served version exported before them has no such outputs."""
    evaluation = config.evaluation
    output = classifier_output(config)
    if baselines:
        model_spec = tfma.ModelSpec(
            signature_name="serve_examples",
            label_keys={name: label_key for name in (output, *baselines)},
            preprocessing_function_names=["transform_features"],
        )
    else:
        model_spec = tfma.ModelSpec(
            signature_name="serve_examples",
            label_key=label_key,
            prediction_key=output,
            preprocessing_function_names=["transform_features"],
        )
    outputs = [output] if baselines else []
    metrics_specs = [
        tfma.MetricsSpec(
            metrics=config_metrics(config, gated=True)
            + (CURVE_PLOTS if config.is_binary else [CONFUSION_MATRIX_PLOT]),
            output_names=outputs,
        )
    ]
    if evaluation.per_class:
        metrics_specs.append(_per_class_metrics_spec(config, outputs))
    if baselines:
        metrics_specs.append(
            tfma.MetricsSpec(
                metrics=config_metrics(config, gated=False),
                output_names=list(baselines),
                model_names=[tfma.CANDIDATE_KEY],
            )
        )
    return tfma.EvalConfig(
        model_specs=[model_spec],
        metrics_specs=metrics_specs,
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=list(keys)) for keys in evaluation.slices],
    )


# `evaluation.confidence_intervals` as TFMA names its methods.
INTERVAL_METHODS = {
    "bootstrap": tfma.ConfidenceIntervalOptions.POISSON_BOOTSTRAP,
    "jackknife": tfma.ConfidenceIntervalOptions.JACKKNIFE,
}


def build_eval_config(config: DomainConfig) -> tfma.EvalConfig:
    """The Evaluator's config, as the domain's data kind builds it (a metric sized by the
    data, a recommender's coverage, is completed when the Evaluator runs:
    components/evaluator.py).

    The config declares every metric the Evaluator reports, so the model's own compiled
    metrics are left out: TFMA would load the model once more for each of their
    combiners (six loads for a finance model, three quarters of the Evaluator's time).
    Every aet model is a Keras model, and saying so spares TFMA's detection of the type,
    which loads the whole model once more in the driver (and once more for a baseline):
    a quarter of a small finance run's Evaluator."""
    eval_config = kind_of(config).eval_config(config)
    eval_config.options.include_default_metrics.value = False
    for model_spec in eval_config.model_specs:
        model_spec.model_type = tfma.constants.TF_KERAS
    method = INTERVAL_METHODS.get(config.evaluation.confidence_intervals)
    if method is not None:
        eval_config.options.compute_confidence_intervals.value = True
        eval_config.options.confidence_intervals.method = method
    return eval_config


CUSTOM_OBJECTS = {
    "aet>TransformerBlock": TransformerBlock,
    "aet>NumericTokenizer": NumericTokenizer,
    "aet>ClsToken": ClsToken,
    "aet>ResidualGate": ResidualGate,
    "aet>ImageAugmentation": ImageAugmentation,
    "aet>ChannelSpatialAttention": ChannelSpatialAttention,
    "aet>PatchTokens": PatchTokens,
    "aet>PositionEmbedding": PositionEmbedding,
    "aet>SequentialRecommender": SequentialRecommender,
    "aet>KolmogorovSmirnov": KolmogorovSmirnov,
    "aet>HitRate": HitRate,
    "aet>NDCGAtCutoff": NDCGAtCutoff,
    "aet>VariableDropout": VariableDropout,
    "aet>AdamWVariableDecay": AdamWVariableDecay,
    "aet>LayerwiseOptimizer": LayerwiseOptimizer,
}


def load_keras_model(path: str) -> tf.keras.Model:
    """Loads an exported model with aet's custom layers and metrics.

    TFMA loads the model inside Beam workers, which are other processes (or machines)
    that never imported this project; Beam pickles this function by reference, so
    unpickling it imports this module and the classes come with it.
    """
    return tf.keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS)


def custom_eval_shared_model(
    eval_saved_model_path: str, model_name: str, eval_config: tfma.EvalConfig, **kwargs
) -> tfma.types.EvalSharedModel:
    """The Evaluator's hook (found through its module_path): TFMA's default shared model,
    loaded by `load_keras_model`."""
    return tfma.default_eval_shared_model(
        eval_saved_model_path=eval_saved_model_path,
        model_name=model_name,
        eval_config=eval_config,
        custom_model_loader=tfma.types.ModelLoader(
            construct_fn=functools.partial(load_keras_model, eval_saved_model_path)
        ),
        **kwargs,
    )
