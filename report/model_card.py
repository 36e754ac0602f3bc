"""The model card: what a model is for, what it was trained and judged on, how it does
overall and for each group the config slices by, and what it cannot be trusted with.

The serving check writes it into the model it stages for the Pusher
(`assets.extra/model_card.json` and `.md`), so it travels with every pushed version; the
run report shows the same card. It is built from aggregates only (counts, metrics, the
config): no row of the data, no file path of the user's, and no metric of a group too
small to judge (a handful of examples' metrics would tell their labels).

model-card-toolkit is not used: it cannot be installed beside TFX 1.15 (it pins TFMA
below 0.45) and its TFX component stops at tfx<1.11; the card's fields follow its
schema's sections (model details, data, quantitative analysis, considerations).
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from importlib import metadata

from tensorflow_metadata.proto.v0 import statistics_pb2

from aet.config import DomainConfig, PackageData
from aet.config.contract import HISTORY_ITEMS
from aet.report.rendering import INTERVAL_NAMES, MIN_SLICE_EXAMPLES, TEMPLATES, judged

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
# Error rates at the decision threshold, from the recall metrics TFMA computes there.
ERROR_RATES = {"false_negative_rate": "sensitivity", "false_positive_rate": "specificity"}


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("aet", "tfx", "tensorflow", "tensorflow-model-analysis"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _features(config: DomainConfig) -> list[str]:
    """The raw features the model reads (for images the image, for logs the history)."""
    features = config.features
    names = list(features.input_names)
    if features.image is not None:
        names.append(features.image.name)
    return names or [HISTORY_ITEMS]


def rows_per_split(statistics: dict[str, statistics_pb2.DatasetFeatureStatistics]) -> dict:
    return {split: stats.num_examples for split, stats in statistics.items()}


def label_counts(
    statistics: statistics_pb2.DatasetFeatureStatistics, label: str
) -> dict[str, float]:
    """How many examples of each class a split holds (TFDV's top values of the label)."""
    for feature in statistics.features:
        if ".".join(feature.path.step) == label and feature.HasField("string_stats"):
            return {value.value: value.frequency for value in feature.string_stats.top_values}
    return {}


def auc_standard_error(auc: float, positives: float, negatives: float) -> float | None:
    """The standard error of an AUC from the class counts (Hanley and McNeil, 1982)."""
    if positives < 1 or negatives < 1:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def _published(values: dict[str, float]) -> dict[str, float]:
    """A slice's metrics as the card ships them: only its count where the slice is too
    small to judge, since a few examples' metrics tell those examples' labels."""
    if judged(values):
        return values
    return {"example_count": values.get("example_count", 0)}


def fairness(
    config: DomainConfig,
    metrics: dict[str, dict[str, float]],
    intervals: dict[str, dict[str, list]] | None = None,
) -> list[dict]:
    """For each feature the config slices by alone, each group's example count and, for a
    group large enough to judge, its AUC (with its 95 % interval where the Evaluator
    computed one) and error rates at the decision threshold; and the gaps between the
    best and worst of those groups."""
    intervals = intervals or {}
    groups_by_feature = []
    for spec in config.evaluation.slices:
        if len(spec) != 1:
            continue
        feature = spec[0]
        groups = []
        for name, values in metrics.items():
            key, _, value = name.partition("=")
            if key != feature or "," in name:
                continue
            examples = int(values.get("example_count", 0))
            group = {"group": value, "examples": examples}
            group["judged"] = examples >= MIN_SLICE_EXAMPLES
            if group["judged"]:  # a tiny group's rates would tell its members' labels
                group["auc"] = values.get("auc")
                if "auc" in intervals.get(name, {}):
                    group["auc_interval"] = intervals[name]["auc"]
                for rate, recall in ERROR_RATES.items():
                    if recall in values:
                        group[rate] = round(1 - values[recall], 6)
            groups.append(group)
        judged = [group for group in groups if group["judged"]]
        gaps = {}
        for measure in ("auc", *ERROR_RATES):
            values = [group[measure] for group in judged if group.get(measure) is not None]
            if len(values) >= 2:
                gaps[measure] = round(max(values) - min(values), 6)
        groups_by_feature.append({"feature": feature, "groups": groups, "gaps": gaps})
    return groups_by_feature


def _limitations(
    config: DomainConfig,
    metrics: dict,
    statistics: dict[str, statistics_pb2.DatasetFeatureStatistics],
    split: str,
    default_data: bool,
) -> list[str]:
    notes = []
    if default_data and config.data.default_note:
        notes.append(config.data.default_note)
    overall = metrics.get("overall", {})
    examples = int(overall.get("example_count", 0))
    label = config.features.label
    counts = label_counts(statistics[split], label.name) if split in statistics and label else {}
    if "auc" in overall and label and len(label.classes or []) == 2 and counts:
        negative, positive = (counts.get(name, 0) for name in label.classes)
        error = auc_standard_error(overall["auc"], positive, negative)
        if error is not None:
            notes.append(
                f"The {split} split holds {examples} examples ({int(positive)} "
                f"{label.classes[1]}): its AUC of {overall['auc']:.3f} has a standard error "
                f"of about {error:.3f}, so differences smaller than about {2 * error:.2f} "
                "between models or groups are within noise."
            )
    small = [name for name, values in metrics.items() if not judged(values)]
    if small:
        notes.append(
            f"Groups with fewer than {MIN_SLICE_EXAMPLES} held-out examples are reported "
            f"but not judged: {', '.join(sorted(small))}."
        )
    if "train" in statistics and config.data.format == "csv":  # the columns are features
        read = set(_features(config)) | ({label.name} if label else set())
        ignored = sorted(
            ".".join(feature.path.step)
            for feature in statistics["train"].features
            if ".".join(feature.path.step) not in read
        )
        if ignored:
            notes.append(
                f"The model does not read these columns of the data: {', '.join(ignored)}."
            )
    return notes


def _published_intervals(
    metrics: dict[str, dict[str, float]], intervals: dict[str, dict[str, list]]
) -> dict[str, dict[str, list]]:
    """The intervals of the slices the card publishes metrics for."""
    return {name: values for name, values in intervals.items() if judged(metrics.get(name, {}))}


# Features the card names with their mean |attribution| (most first).
CARD_FEATURES = 10
# A class's mean heat map is published from this many images on (aet.kinds.image.overlays).
MIN_AVERAGED = 10


def published_explanations(explanations: dict | None) -> dict | None:
    """The global view of the explanations as the card ships it: the method, how many
    held-out examples it rests on, the features that move answers most (tabular), the
    mean heat map of each class with enough images (no image itself)."""
    if not explanations or not explanations.get("method"):
        return None
    card = {"method": explanations["method"], "examples": explanations["examples"]}
    if "features" in explanations:
        card["features"] = explanations["features"][:CARD_FEATURES]
        card["completeness_gap"] = explanations.get("completeness_gap")
    if "classes" in explanations:
        card["classes"] = [
            {key: entry[key] for key in ("label", "examples", "mean_heat_map")}
            for entry in explanations["classes"]
            if entry["examples"] >= MIN_AVERAGED
        ]
    return card


def build_card(
    config: DomainConfig,
    *,
    metrics: dict[str, dict[str, float]],
    intervals: dict[str, dict[str, list]],
    statistics: dict[str, statistics_pb2.DatasetFeatureStatistics],
    training: dict | None,
    split: str,
    default_data: bool,
    lineage: dict[str, str],
    explanations: dict | None = None,
) -> dict:
    """The card's content, from aggregates only."""
    label = config.features.label
    default = config.data.default
    source = (
        {"registry_package": default.package, "file": default.file, "sha256": default.sha256}
        if default_data and isinstance(default, PackageData)
        else {"supplied_by": "the user (aet run --data)"}
    )
    events = (training or {}).get("events", [])
    callbacks: dict[str, int] = {}
    for event in events:
        callbacks[event["callback"]] = callbacks.get(event["callback"], 0) + 1
    return {
        "model_details": {
            "name": config.serving.model_name,
            "domain": config.name,
            "description": config.description,
            "architecture": config.model.architecture,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "lineage": {**lineage, "versions": _versions()},
        },
        "intended_use": {
            "use": config.description,
            "label": {"name": label.name, "classes": label.classes} if label else None,
            "not_for": "decisions about a person without human review; data unlike the "
            "training data (see the limitations)",
        },
        "data": {
            "source": source,
            "format": config.data.format,
            "rows": rows_per_split(statistics),
            "features": _features(config),
        },
        "quantitative_analysis": {
            "split": split,
            "decision_threshold": config.evaluation.decision_threshold,
            "overall": metrics.get("overall", {}),
            "slices": {
                name: _published(values) for name, values in metrics.items() if name != "overall"
            },
            "intervals": _published_intervals(metrics, intervals),
            "interval_method": INTERVAL_NAMES.get(config.evaluation.confidence_intervals),
            "fairness": fairness(config, metrics, intervals),
        },
        "training": {
            "model": json.loads(config.model.json()),
            "batch_size": config.training.batch_size,
            "train_steps": config.training.train_steps,
            "epochs_run": (training or {}).get("epochs_run"),
            "tuned_hyperparameters": (training or {}).get("hyperparameters", {}),
            "elastic_events": callbacks,
        },
        "explanations": published_explanations(explanations),
        "limitations": _limitations(config, metrics, statistics, split, default_data),
    }


def card_markdown(card: dict) -> str:
    return TEMPLATES.get_template("model_card.md.j2").render(card=card)


def write_card(folder: str, card: dict) -> None:
    """Writes the card's JSON and Markdown into `folder` (a model's assets.extra/)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(os.path.join(folder, CARD_JSON), "w") as handle:
        json.dump(card, handle, indent=2, sort_keys=True)
    with tf.io.gfile.GFile(os.path.join(folder, CARD_MARKDOWN), "w") as handle:
        handle.write(card_markdown(card))
