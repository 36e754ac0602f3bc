"""Drift between a new span and the span before it: what TFX's DistributionValidator is
asked to compare, and what it found, read back for the summary and the gate.

DistributionValidator compares two ExampleStatistics per feature with TFDV's
comparators (Jensen-Shannon divergence for numbers, L-infinity distance for
categories) and writes an Anomalies proto per split pair: the measured distance of
every compared feature (`drift_skew_info`) and a reason for each one over its
threshold. The new span's training split is compared with the previous span's (and
with the served model's training span, where that is older), and the requests a client
logged (serving/request_log.py) with the training split: the serving-skew check, with
the same thresholds, on the features a request carries.

Two samples of the same data differ by chance, the more so the smaller they are: a
threshold below what chance gives two samples of these sizes would flag an unchanged
span. So each threshold is raised to the sampling floor of the two samples compared
(`sampling_floor`, applied by components/drift/executor.py), and what was compared is
written beside the anomalies (`SAMPLING_FILE`).
"""

from __future__ import annotations

import json
import math
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.proto import distribution_validator_pb2

from aet.config import DomainConfig

# What a new span is compared with, and the summary key its drift is reported under:
# the span before it, and the newest span the served model trained on where that is
# older (the span before was stopped, or its model not pushed).
DRIFT_REFERENCES = {"previous_span": "drift", "served_training": "drift_from_training"}
COMPARED_SPLITS = ("train", "train")  # (the new span's split, the previous span's)
SERVING_SPLIT = "serving"  # the logged requests' one split, compared with training's
SKEW_SPLITS = (SERVING_SPLIT, "train")
ANOMALIES_FILE = "SchemaDiff.pb"
SAMPLING_FILE = "sampling.json"  # the rows compared and the sampling floor, per split pair
# The floor is SAMPLING_MARGIN * sqrt(1/n + 1/m) for samples of n and m rows. For an
# L-infinity distance it is 4 standard errors of the largest possible difference in one
# category's share (a share of 1/2). TFDV's Jensen-Shannon divergence over histograms
# has no such closed form; measured over 25 random pairs of disjoint German Credit
# samples at each of 100, 175, 300 and 500 rows, the largest divergence of any number
# (duration_in_month, whose values sit on a few months) was 1.67 times sqrt(1/n + 1/m),
# and the largest L-infinity distance 1.48 times.
SAMPLING_MARGIN = 2.0
SPLIT_PAIR_FOLDER = "SplitPair-{}_{}"
MEASURES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "l_infinity",
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "jensen_shannon_divergence",
}


def validator_id(reference: str) -> str:
    """The pipeline node that compares the new span with `reference`."""
    return f"{reference}_drift_validator"


def validator_config(
    config: DomainConfig, features: dict[str, str]
) -> distribution_validator_pb2.DistributionValidatorConfig:
    """One comparator per drift feature ('numeric' or 'categorical'), at the config's
    threshold for that feature, else the default for its kind."""
    drift = config.drift
    validator = distribution_validator_pb2.DistributionValidatorConfig()
    for name, kind in sorted(features.items()):
        feature = validator.default_slice_config.feature.add()
        feature.path.step.append(name)
        comparator = feature.distribution_comparator
        if kind == "numeric":
            threshold = drift.thresholds.get(name, drift.numeric)
            comparator.jensen_shannon_divergence.threshold = threshold
        else:
            threshold = drift.thresholds.get(name, drift.categorical)
            comparator.infinity_norm.threshold = threshold
    return validator


def sampling_floor(rows: int, baseline_rows: int) -> float:
    """The smallest distance that says more than chance between samples of these sizes."""
    return SAMPLING_MARGIN * math.sqrt(1 / max(rows, 1) + 1 / max(baseline_rows, 1))


def with_sampling_floor(
    config: distribution_validator_pb2.DistributionValidatorConfig, floor: float
) -> distribution_validator_pb2.DistributionValidatorConfig:
    """`config` with every threshold below `floor` raised to it."""
    raised = distribution_validator_pb2.DistributionValidatorConfig()
    raised.CopyFrom(config)
    for feature in raised.default_slice_config.feature:
        comparator = feature.distribution_comparator
        for measure in (comparator.jensen_shannon_divergence, comparator.infinity_norm):
            if measure.threshold:
                measure.threshold = max(measure.threshold, floor)
    return raised


def read_drift(anomalies_uri: str, splits: tuple[str, str] = COMPARED_SPLITS) -> dict | None:
    """Per feature, the distance measured, its threshold and whether it drifted, and
    one readable line per drifted feature, with the rows compared and the sampling
    floor; None when nothing was compared (the first span has no span before it).
    `splits`: the pair compared (SKEW_SPLITS for the serving-skew check)."""
    folder = os.path.join(anomalies_uri, SPLIT_PAIR_FOLDER.format(*splits))
    path = os.path.join(folder, ANOMALIES_FILE)
    if not tf.io.gfile.exists(path):
        return None
    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
    features = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        for measurement in info.drift_measurements:
            features[name] = {
                "measure": MEASURES.get(measurement.type, str(measurement.type)),
                "value": round(measurement.value, 6),
                "threshold": measurement.threshold,
            }
    reasons = []
    for name, info in sorted(anomalies.anomaly_info.items()):
        if name in features:
            features[name]["drifted"] = True
        reasons += [f"{name}: {reason.description}" for reason in info.reason]
    for feature in features.values():
        feature.setdefault("drifted", False)
    sampling = os.path.join(folder, SAMPLING_FILE)
    compared = (
        json.loads(tf.io.gfile.GFile(sampling).read()) if tf.io.gfile.exists(sampling) else {}
    )
    return {
        "drifted": sorted(name for name, f in features.items() if f["drifted"]),
        "features": features,
        "reasons": reasons,
        **compared,
    }
