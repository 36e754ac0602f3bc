"""What the Evaluator found, read back from TFMA's output: metric values per slice
(the run summary, the report and the model card all read them here) and the
thresholds a model failed."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import tensorflow_model_analysis as tfma
from google.protobuf import text_format

from aet.components.evaluation import tfma_metric_name
from aet.config import DomainConfig
from aet.config.contract import CLASSIFIER_OUTPUTS, RECOMMENDER_OUTPUT
from aet.config.metrics import PER_CLASS_METRICS

BASELINE = tfma.BASELINE_KEY  # the Evaluator's name for the model judged against
MODEL_OUTPUTS = {RECOMMENDER_OUTPUT, *CLASSIFIER_OUTPUTS}  # a model's own, not a baseline's


def _slice_name(slice_key: tuple) -> str:
    return ", ".join(f"{feature}={value}" for feature, value in slice_key) or "overall"


def _class_id(sub_key: str) -> int | None:
    """The class index of a TFMA sub-key ('classId:2'); None for other or no sub-keys."""
    match = re.fullmatch(r"classId:(\d+)", sub_key)
    return int(match.group(1)) if match else None


def _metric_label(name: str, class_id: int | None, classes: list[str], output: str) -> str:
    """'auc' for a whole-label metric, 'auc[class=Adelie]' for one class's (one-vs-rest),
    'ndcg[most_popular]' or 'auc[logistic_regression]' for a baseline (an output other
    than the model's own)."""
    if output and output not in MODEL_OUTPUTS:
        return f"{name}[{output}]"
    if class_id is None:
        return name
    return f"{name}[class={classes[class_id] if class_id < len(classes) else class_id}]"


def _metric_entries(
    evaluation_uri: str, config: DomainConfig, model: str | None
) -> Iterator[tuple[str, str, dict]]:
    """(slice name, metric label, TFMA's value) for each metric the summary reports: the
    value is {'doubleValue': v}, or with confidence intervals {'boundedValue': {'value',
    'lowerBound', 'upperBound'}}."""
    wanted = {tfma_metric_name(name) for name in config.evaluation.metrics} | {"example_count"}
    per_class = set(PER_CLASS_METRICS) if config.evaluation.per_class else set()
    classes = config.features.label.classes if config.features.label else []
    result = tfma.load_eval_result(evaluation_uri, model_name=model)
    for slice_key, by_output in result.slicing_metrics:
        for output, by_sub_key in by_output.items():
            for sub_key, metric_values in by_sub_key.items():
                class_id = _class_id(sub_key)
                names = wanted if class_id is None else per_class
                for name, value in metric_values.items():
                    if name in names:
                        label = _metric_label(name, class_id, classes, output)
                        yield _slice_name(slice_key), label, value


def _number(value: object) -> float | None:
    """A finite TFMA number (it writes an undefined one as NaN or 'NaN'), rounded."""
    number = float(value) if isinstance(value, (int, float, str)) else math.nan
    return None if math.isnan(number) else round(number, 6)


def _by_slice(entries: dict[str, dict]) -> dict[str, dict]:
    return dict(sorted(entries.items(), key=lambda item: item[0] != "overall"))


def read_metrics(
    evaluation_uri: str, config: DomainConfig, model: str | None = None
) -> dict[str, dict[str, float]]:
    """Metric values per slice ('overall', 'age_band=<25', ...) from TFMA's output; a
    class's own metrics (evaluation.per_class) as 'recall[class=Adelie]', a recommender's
    baselines' as 'ndcg[co_occurrence]'. The new model's, or with `model=BASELINE` those
    of the model it was judged against (empty when there was none). With confidence
    intervals, the value is TFMA's estimate on the whole split (the one thresholds gate)."""
    metrics: dict[str, dict[str, float]] = {}
    for slice_name, label, value in _metric_entries(evaluation_uri, config, model):
        values = metrics.setdefault(slice_name, {})
        if "doubleValue" in value:
            values[label] = round(float(value["doubleValue"]), 6)
        elif "boundedValue" in value:
            values[label] = round(float(value["boundedValue"]["value"]), 6)
    return _by_slice({name: dict(sorted(values.items())) for name, values in metrics.items()})


def read_intervals(evaluation_uri: str, config: DomainConfig) -> dict[str, dict[str, list]]:
    """The new model's 95 % confidence interval [lower, upper] per slice and metric, where
    the Evaluator computed them (`evaluation.confidence_intervals`) and they are defined;
    the example count has none."""
    intervals: dict[str, dict[str, list]] = {}
    for slice_name, label, value in _metric_entries(evaluation_uri, config, None):
        bounded = value.get("boundedValue")
        if not bounded or label.partition("[")[0] == "example_count":
            continue
        lower, upper = _number(bounded.get("lowerBound")), _number(bounded.get("upperBound"))
        if lower is not None and upper is not None:
            intervals.setdefault(slice_name, {})[label] = [lower, upper]
    return _by_slice({name: dict(sorted(values.items())) for name, values in intervals.items()})


def failed_thresholds(evaluation_uri: str) -> list[str]:
    """Each threshold the model failed, in words (why it was not blessed)."""
    validation = tfma.load_validation_result(evaluation_uri)
    reasons = []
    for failure in validation.metric_validations_per_slice:
        for metric in failure.failures:
            kind = "change vs baseline" if metric.metric_key.is_diff else "value"
            reasons.append(
                f"{metric.metric_key.name} {kind} {metric.metric_value.double_value.value:.4f} "
                f"fails {text_format.MessageToString(metric.metric_threshold, as_one_line=True)}"
            )
    return reasons


def _value(entry: dict, key: str) -> float | None:
    """A field of TFMA's plot output: absent means 0 (proto3), 'NaN' means undefined."""
    value = entry.get(key, 0.0)
    value = float(value) if value != "NaN" else math.nan
    return None if math.isnan(value) else value


def _overall_plots(evaluation_uri: str) -> dict:
    """TFMA's plots of the new model on the whole held-out split. With a baseline TFMA
    plots both models, and gives none unless asked for one by name."""
    for model in (None, tfma.CANDIDATE_KEY):
        result = tfma.load_eval_result(evaluation_uri, model_name=model)
        overall = next((plots for key, plots in result.plots if key == ()), None)
        for output in ("", *CLASSIFIER_OUTPUTS):  # unnamed unless baselines are beside it
            if overall and output in overall:
                return overall[output].get("") or {}
    return {}


def read_confusion_matrix(evaluation_uri: str, classes: list[str]) -> list[list[float]] | None:
    """A multi-class classifier's confusion matrix on the whole held-out split, from
    TFMA's MultiClassConfusionMatrixPlot: counts[actual][predicted], in the order of
    `classes`. None when the evaluation has no such plot."""
    plots = _overall_plots(evaluation_uri)
    matrices = plots.get("multiClassConfusionMatrixAtThresholds", {}).get("matrices", [])
    if not matrices:
        return None
    matrix = matrices[0]
    counts = [[0.0] * len(classes) for _ in classes]
    for entry in matrix.get("entries", []):
        actual = int(entry.get("actualClassId", 0))
        predicted = int(entry.get("predictedClassId", 0))
        if 0 <= actual < len(classes) and 0 <= predicted < len(classes):
            counts[actual][predicted] += _value(entry, "numWeightedExamples") or 0.0
    return counts


def read_curves(evaluation_uri: str, bins: int = 10) -> dict | None:
    """A binary classifier's curves on the whole held-out split, from TFMA's
    ConfusionMatrixPlot and CalibrationPlot: ROC (false positive rate, recall) and
    precision-recall points by threshold, and the calibration histogram merged into
    `bins` equal-width bins of predicted probability (mean predicted, observed rate,
    examples). None when the evaluation has no such plots."""
    plots = _overall_plots(evaluation_uri)
    if "confusionMatrixAtThresholds" not in plots:
        return None
    matrices = plots["confusionMatrixAtThresholds"]["matrices"]
    roc = [(_value(m, "falsePositiveRate"), _value(m, "recall")) for m in matrices]
    pr = [(_value(m, "recall"), _value(m, "precision")) for m in matrices]
    merged = [[0.0, 0.0, 0.0] for _ in range(bins)]  # predictions, labels, examples
    for bucket in plots.get("calibrationHistogramBuckets", {}).get("buckets", []):
        count = _value(bucket, "numWeightedExamples") or 0.0
        if not count:
            continue
        mean = (_value(bucket, "totalWeightedRefinedPrediction") or 0.0) / count
        target = merged[min(int(mean * bins), bins - 1)]
        target[0] += _value(bucket, "totalWeightedRefinedPrediction") or 0.0
        target[1] += _value(bucket, "totalWeightedLabel") or 0.0
        target[2] += count
    return {
        "roc": [point for point in roc if None not in point],
        "precision_recall": [point for point in pr if None not in point],
        "calibration": [
            (predicted / count, observed / count, count)
            for predicted, observed, count in merged
            if count
        ],
    }
