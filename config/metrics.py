"""Every metric a domain can name, declared once.

A declaration says which tasks the metric scores, whether higher or lower is better,
what the Trainer computes for it during `fit` (and so what the elastic callbacks and the
tuner can watch as NAME or val_NAME), and which Keras or TFMA classes the Evaluator
builds for it. Config validation, the Trainer, the Evaluator, the elastic callbacks and
the run summary all read these declarations; adding a metric is adding one here.

Classes are named by import path, not imported: this module sits at the bottom of the
import graph and must load without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Task = Literal["binary", "multiclass", "ranking"]
Direction = Literal["higher_is_better", "lower_is_better"]

KERAS = "tensorflow.keras.metrics"
TFMA = ""  # TFMA's own metrics are named with an empty module
AET_METRICS = "aet.components.metrics"
AET_RANKING = "aet.components.ranking_metrics"


@dataclass(frozen=True)
class MetricClass:
    """A metric class by its import path and the keyword arguments it is built with."""

    class_name: str
    module: str
    config: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationSettings:
    """What a metric's evaluation classes may depend on: `evaluation.*` of the config
    (a recommender's catalogue size is known only once its data is ingested: see
    `sized_by_ingestion`)."""

    decision_threshold: float = 0.5
    cutoff: int = 10
    sampled_negatives: int = 100


EvaluationClasses = Callable[[EvaluationSettings], list[MetricClass]]


@dataclass(frozen=True)
class Metric:
    """One metric: `evaluation` per task it scores on the held-out split (the first class
    is the one thresholds gate), `training` per task the Trainer computes it on both
    splits (None: the model computes it itself, as a recommender's ranking metrics)."""

    name: str
    direction: Direction | None  # None: neither (calibration is best at 1)
    evaluation: Mapping[Task, EvaluationClasses] = field(default_factory=dict)
    training: Mapping[Task, MetricClass | None] = field(default_factory=dict)
    validation_only: frozenset[Task] = frozenset()
    reported_as: str | None = None  # TFMA's name for it, where that differs

    @property
    def tasks(self) -> frozenset[Task]:
        """The tasks a config may name it for in `evaluation.metrics`."""
        return frozenset(self.evaluation)

    @property
    def tfma_name(self) -> str:
        return self.reported_as or self.name


def _fixed(*classes: MetricClass) -> EvaluationClasses:
    return lambda _: list(classes)


def _at_threshold(class_name: str, module: str, name: str, key: str) -> EvaluationClasses:
    """A binary metric read at `evaluation.decision_threshold`."""
    return lambda s: [MetricClass(class_name, module, {"name": name, key: s.decision_threshold})]


def _ranking(class_name: str, name: str, sampled: bool = False) -> EvaluationClasses:
    def classes(s: EvaluationSettings) -> list[MetricClass]:
        config: dict[str, object] = {"name": name, "cutoff": s.cutoff}
        if sampled:
            config["sampled_negatives"] = s.sampled_negatives
        return [MetricClass(class_name, AET_RANKING, config)]

    return classes


COVERAGE_CLASS = "CatalogueCoverage"


def _coverage(s: EvaluationSettings) -> list[MetricClass]:
    """Coverage without its sizes: they come from the ingestion (`sized_by_ingestion`)."""
    return [MetricClass(COVERAGE_CLASS, AET_RANKING, {"name": "coverage", "cutoff": s.cutoff})]


def sized_by_ingestion(class_name: str, config: dict, report: dict | None) -> dict:
    """A metric class's config completed with what only the ingestion of the evaluated
    data knows: coverage's catalogue (distinct training items), whose scores cover it
    plus padding and the out-of-vocabulary id. Other configs are returned as they are."""
    if class_name != COVERAGE_CLASS or "num_items" in config:
        return config
    if report is None or "catalogue" not in report:
        raise ValueError(
            "coverage is sized by the catalogue in the ingestion report of the examples it "
            "is evaluated on, and these examples have none"
        )
    catalogue = int(report["catalogue"])
    return {**config, "num_scores": catalogue + 2, "num_items": catalogue}


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "loss",
            "lower_is_better",
            training={"binary": None, "multiclass": None, "ranking": None},
        ),
        Metric(
            "auc",
            "higher_is_better",
            evaluation={
                "binary": _fixed(MetricClass("AUC", KERAS, {"name": "auc", "num_thresholds": 1000}))
            },
            training={"binary": MetricClass("AUC", KERAS, {"name": "auc"})},
        ),
        Metric(
            "pr_auc",
            "higher_is_better",
            evaluation={
                "binary": _fixed(
                    MetricClass(
                        "AUC", KERAS, {"name": "pr_auc", "curve": "PR", "num_thresholds": 1000}
                    )
                )
            },
            training={"binary": MetricClass("AUC", KERAS, {"name": "pr_auc", "curve": "PR"})},
        ),
        Metric(
            "ks",
            "higher_is_better",
            evaluation={
                "binary": _fixed(MetricClass("KolmogorovSmirnov", AET_METRICS, {"name": "ks"}))
            },
            training={"binary": MetricClass("KolmogorovSmirnov", AET_METRICS, {"name": "ks"})},
        ),
        Metric(
            "brier",
            "lower_is_better",
            evaluation={
                "binary": _fixed(MetricClass("MeanSquaredError", KERAS, {"name": "brier_score"}))
            },
            reported_as="brier_score",
        ),
        Metric(
            "calibration",
            None,
            evaluation={
                "binary": _fixed(
                    MetricClass("Calibration", TFMA),
                    MetricClass("MeanLabel", TFMA),
                    MetricClass("MeanPrediction", TFMA),
                    MetricClass("CalibrationPlot", TFMA),
                )
            },
        ),
        Metric(
            "accuracy",
            "higher_is_better",
            evaluation={
                "binary": _at_threshold("BinaryAccuracy", KERAS, "accuracy", "threshold"),
                "multiclass": _fixed(
                    MetricClass("SparseCategoricalAccuracy", KERAS, {"name": "accuracy"})
                ),
            },
            training={
                "binary": MetricClass("BinaryAccuracy", KERAS, {"name": "accuracy"}),
                "multiclass": MetricClass("SparseCategoricalAccuracy", KERAS, {"name": "accuracy"}),
            },
        ),
        Metric(
            "precision",
            "higher_is_better",
            evaluation={"binary": _at_threshold("Precision", KERAS, "precision", "thresholds")},
        ),
        Metric(
            "recall",
            "higher_is_better",
            evaluation={"binary": _at_threshold("Recall", KERAS, "recall", "thresholds")},
        ),
        Metric(
            "log_loss",
            "lower_is_better",
            evaluation={
                "binary": _fixed(MetricClass("BinaryCrossentropy", KERAS, {"name": "log_loss"})),
                "multiclass": _fixed(
                    MetricClass("SparseCategoricalCrossentropy", KERAS, {"name": "log_loss"})
                ),
            },
        ),
        # TFMA's own confusion-matrix metrics: the positive class's recall and the
        # true-negative rate, both at the decision threshold.
        Metric(
            "sensitivity",
            "higher_is_better",
            evaluation={"binary": _at_threshold("Recall", TFMA, "sensitivity", "thresholds")},
        ),
        Metric(
            "specificity",
            "higher_is_better",
            evaluation={"binary": _at_threshold("Specificity", TFMA, "specificity", "thresholds")},
        ),
        # A recommender computes its ranking metrics itself, on validation only: a full
        # ranking of the catalogue per training batch would cost more than the step.
        Metric(
            "hit_rate",
            "higher_is_better",
            evaluation={"ranking": _ranking("HitRate", "hit_rate")},
            training={"ranking": None},
            validation_only=frozenset({"ranking"}),
        ),
        Metric(
            "ndcg",
            "higher_is_better",
            evaluation={"ranking": _ranking("NDCGAtCutoff", "ndcg")},
            training={"ranking": None},
            validation_only=frozenset({"ranking"}),
        ),
        Metric(
            "hit_rate_sampled",
            "higher_is_better",
            evaluation={"ranking": _ranking("HitRate", "hit_rate_sampled", sampled=True)},
        ),
        Metric(
            "ndcg_sampled",
            "higher_is_better",
            evaluation={"ranking": _ranking("NDCGAtCutoff", "ndcg_sampled", sampled=True)},
        ),
        Metric("coverage", "higher_is_better", evaluation={"ranking": _coverage}),
    )
}

# What training watches when a config does not say (training.elastic.monitor), and the
# gap the regularisation callback follows (training.elastic.regularisation.metric).
DEFAULT_MONITOR: dict[Task, str] = {
    "binary": "val_auc",
    "multiclass": "val_accuracy",
    "ranking": "val_ndcg",
}
DEFAULT_GAP_METRIC: dict[Task, str] = {"binary": "auc", "multiclass": "accuracy", "ranking": "loss"}

# With `evaluation.per_class`, each class of a multi-class label against the rest.
PER_CLASS_METRICS = ("auc", "precision", "recall")


def evaluation_metric_names() -> list[str]:
    """The names `evaluation.metrics` accepts."""
    return [name for name, metric in METRICS.items() if metric.tasks]


def training_metrics(task: Task) -> list[str]:
    """What the Trainer reports for `task` (loss first), as NAME and val_NAME."""
    return [name for name, metric in METRICS.items() if task in metric.training]


def monitorable(task: Task) -> list[str]:
    """What the elastic callbacks and the tuner can watch while training for `task`:
    every training metric on validation, and those computed on both splits."""
    names = training_metrics(task)
    return [f"val_{name}" for name in names] + [
        name for name in names if task not in METRICS[name].validation_only
    ]


def direction_of(monitor: str) -> Direction:
    """Whether `monitor` (NAME or val_NAME of a declared metric) should rise or fall."""
    name = monitor.removeprefix("val_")
    if name not in METRICS:
        raise KeyError(f"'{monitor}' is not a declared metric; declared: {sorted(METRICS)}")
    direction = METRICS[name].direction
    if direction is None:
        raise ValueError(f"'{name}' neither rises nor falls when a model gets better")
    return direction


def keras_mode(monitor: str) -> Literal["min", "max"]:
    """`direction_of` in the words of Keras callbacks and keras-tuner."""
    return "min" if direction_of(monitor) == "lower_is_better" else "max"


def split_label(label: str) -> tuple[str, str]:
    """A reported metric's name and its group: ('auc', '') for the model's own,
    ('ndcg', 'most_popular') for a baseline's, ('auc', 'class=x') for a class's."""
    name, _, group = label.partition("[")
    return name, group.removesuffix("]")
