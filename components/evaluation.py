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

from components.attention import PositionEmbedding, TransformerBlock
from components.features import label_key
from components.layers import VariableDropout
from components.metrics import KolmogorovSmirnov
from components.models.attention_cnn import ChannelSpatialAttention, ImageAugmentation, PatchTokens
from components.models.ft_transformer import ClsToken, NumericTokenizer
from components.models.sasrec import SequentialRecommender
from components.optimizers import AdamWVariableDecay, LayerwiseOptimizer
from components.ranking_metrics import HitRate, NDCGAtCutoff
from components.recommendation_baselines import BASELINE_OUTPUTS, RECOMMENDER_OUTPUT
from pipelines.config import Bound, ChangeThreshold, DomainConfig, EvaluationConfig


def _binary_metric_specs(name: str, decision_threshold: float) -> list[tuple[str, dict, str]]:
    """(Keras/TFMA class name, config, module) for one metric name of the config."""
    keras = "tensorflow.keras.metrics"
    return {
        "auc": [("AUC", {"name": "auc", "num_thresholds": 1000}, keras)],
        "pr_auc": [("AUC", {"name": "pr_auc", "curve": "PR", "num_thresholds": 1000}, keras)],
        "ks": [("KolmogorovSmirnov", {"name": "ks"}, "components.metrics")],
        "brier": [("MeanSquaredError", {"name": "brier_score"}, keras)],
        "calibration": [
            ("Calibration", {}, ""),
            ("MeanLabel", {}, ""),
            ("MeanPrediction", {}, ""),
            ("CalibrationPlot", {}, ""),
        ],
        "accuracy": [
            ("BinaryAccuracy", {"name": "accuracy", "threshold": decision_threshold}, keras)
        ],
        "precision": [
            ("Precision", {"name": "precision", "thresholds": decision_threshold}, keras)
        ],
        "recall": [("Recall", {"name": "recall", "thresholds": decision_threshold}, keras)],
        "log_loss": [("BinaryCrossentropy", {"name": "log_loss"}, keras)],
        # TFMA's own confusion-matrix metrics (module ""): the positive class's recall
        # and the true-negative rate, both at the decision threshold.
        "sensitivity": [("Recall", {"name": "sensitivity", "thresholds": decision_threshold}, "")],
        "specificity": [
            ("Specificity", {"name": "specificity", "thresholds": decision_threshold}, "")
        ],
    }[name]


def _ranking_metric_specs(
    name: str, evaluation: EvaluationConfig, catalogue: int
) -> list[tuple[str, dict, str]]:
    """HR@k and NDCG@k over the whole catalogue and over `sampled_negatives` drawn per
    user, and the share of the catalogue that some top-k list holds (ids are the
    catalogue plus padding and out-of-vocabulary)."""
    module = "components.ranking_metrics"
    full = {"cutoff": evaluation.cutoff}
    sampled = {**full, "sampled_negatives": evaluation.sampled_negatives}
    return {
        "hit_rate": [("HitRate", {"name": "hit_rate", **full}, module)],
        "ndcg": [("NDCGAtCutoff", {"name": "ndcg", **full}, module)],
        "hit_rate_sampled": [("HitRate", {"name": "hit_rate_sampled", **sampled}, module)],
        "ndcg_sampled": [("NDCGAtCutoff", {"name": "ndcg_sampled", **sampled}, module)],
        "coverage": [
            (
                "CatalogueCoverage",
                {"name": "coverage", "num_scores": catalogue + 2, "num_items": catalogue, **full},
                module,
            )
        ],
    }[name]


def _multiclass_metric_specs(name: str) -> list[tuple[str, dict, str]]:
    keras = "tensorflow.keras.metrics"
    return {
        "accuracy": [("SparseCategoricalAccuracy", {"name": "accuracy"}, keras)],
        "log_loss": [("SparseCategoricalCrossentropy", {"name": "log_loss"}, keras)],
    }[name]


# With `evaluation.per_class`, each class of a multi-class label against the rest: TFMA
# reports them under these names with the class index as the metric's sub-key.
PER_CLASS_METRICS = ("auc", "precision", "recall")


def _metric_configs(specs: list[tuple[str, dict, str]]) -> list[tfma.MetricConfig]:
    metrics = []
    for class_name, metric_config, module in specs:
        metric = tfma.MetricConfig(class_name=class_name, module=module)
        if metric_config:
            metric.config = json.dumps(metric_config)
        metrics.append(metric)
    return metrics


def _per_class_metrics_spec(config: DomainConfig) -> tfma.MetricsSpec:
    """One-vs-rest AUC, precision and recall for every class: TFMA binarizes the label
    and the class's probability (predicted when >= evaluation.decision_threshold)."""
    specs = [
        spec
        for name in PER_CLASS_METRICS
        for spec in _binary_metric_specs(name, config.evaluation.decision_threshold)
    ]
    return tfma.MetricsSpec(
        metrics=_metric_configs(specs),
        binarize=tfma.BinarizationOptions(
            class_ids={"values": list(range(len(config.features.label.classes)))}
        ),
    )


def tfma_metric_name(name: str) -> str:
    """The name under which TFMA reports (and thresholds) a config metric."""
    return {"brier": "brier_score", "calibration": "calibration"}.get(name, name)


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


def _config_metrics(
    config: DomainConfig, catalogue: int | None, gated: bool
) -> list[tfma.MetricConfig]:
    """The config's metrics, each with its thresholds when `gated`."""
    evaluation = config.evaluation
    metrics = [tfma.MetricConfig(class_name="ExampleCount")]
    for name in evaluation.metrics:
        if config.task == "ranking":
            specs = _ranking_metric_specs(name, evaluation, catalogue)
        elif config.is_binary:
            specs = _binary_metric_specs(name, evaluation.decision_threshold)
        else:
            specs = _multiclass_metric_specs(name)
        for index, metric in enumerate(_metric_configs(specs)):
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


def _ranking_eval_config(config: DomainConfig, catalogue: int) -> tfma.EvalConfig:
    """The recommender and its two baselines are outputs of one signature, scored by the
    same metrics on the same examples; only the recommender's output is gated. The
    model's own validation metrics (one output, no baselines) are left out."""
    outputs = [RECOMMENDER_OUTPUT, *BASELINE_OUTPUTS]
    eval_config = tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serve_examples",
                label_keys={output: label_key(config) for output in outputs},
                preprocessing_function_names=["transform_features"],
            )
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=_config_metrics(config, catalogue, gated=True),
                output_names=[RECOMMENDER_OUTPUT],
            ),
            tfma.MetricsSpec(
                metrics=_config_metrics(config, catalogue, gated=False),
                output_names=list(BASELINE_OUTPUTS),
            ),
        ],
        slicing_specs=[tfma.SlicingSpec()],
    )
    eval_config.options.include_default_metrics.value = False
    return eval_config


def build_eval_config(config: DomainConfig, catalogue: int | None = None) -> tfma.EvalConfig:
    """`catalogue`: a recommender's number of distinct training items (its vocabulary)."""
    if config.task == "ranking":
        if catalogue is None:
            raise ValueError("a recommender's evaluation needs the size of its catalogue")
        return _ranking_eval_config(config, catalogue)
    evaluation = config.evaluation
    metrics = _config_metrics(config, None, gated=True)
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serve_examples",
                label_key=label_key(config),
                prediction_key="probability" if config.is_binary else "probabilities",
                preprocessing_function_names=["transform_features"],
            )
        ],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)]
        + ([_per_class_metrics_spec(config)] if evaluation.per_class else []),
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=list(keys)) for keys in evaluation.slices],
    )


CUSTOM_OBJECTS = {
    "aet>TransformerBlock": TransformerBlock,
    "aet>NumericTokenizer": NumericTokenizer,
    "aet>ClsToken": ClsToken,
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
