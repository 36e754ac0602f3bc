"""Drift between a new span and the span before it: what TFX's DistributionValidator is
asked to compare, and what it found, read back for the summary and the gate.

DistributionValidator compares two ExampleStatistics per feature with TFDV's
comparators (Jensen-Shannon divergence for numbers, L-infinity distance for
categories) and writes an Anomalies proto per split pair: the measured distance of
every compared feature (`drift_skew_info`) and a reason for each one over its
threshold. The new span's training split is compared with the previous span's, and
the requests a client logged (serving/request_log.py) with the training split: the
serving-skew check, with the same thresholds, on the features a request carries.
"""

from __future__ import annotations

import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.proto import distribution_validator_pb2

from aet.config import DomainConfig

COMPARED_SPLITS = ("train", "train")  # (the new span's split, the previous span's)
SERVING_SPLIT = "serving"  # the logged requests' one split, compared with training's
SKEW_SPLITS = (SERVING_SPLIT, "train")
ANOMALIES_FILE = "SchemaDiff.pb"
SPLIT_PAIR_FOLDER = "SplitPair-{}_{}"
MEASURES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "l_infinity",
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "jensen_shannon_divergence",
}


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


def read_drift(anomalies_uri: str, splits: tuple[str, str] = COMPARED_SPLITS) -> dict | None:
    """Per feature, the distance measured, its threshold and whether it drifted, and
    one readable line per drifted feature; None when nothing was compared (the first
    span has no span before it). `splits`: the pair compared (SKEW_SPLITS for the
    serving-skew check)."""
    path = os.path.join(anomalies_uri, SPLIT_PAIR_FOLDER.format(*splits), ANOMALIES_FILE)
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
    return {
        "drifted": sorted(name for name, f in features.items() if f["drifted"]),
        "features": features,
        "reasons": reasons,
    }
