"""A TFX component that stops the run when ExampleValidator found anomalies.

ExampleValidator only records anomalies; nothing in TFX 1.15 acts on them. This gate
runs between ExampleValidator and Transform (the factory orders Transform after it),
and fails with a readable list, so no model is trained on data that broke the schema.
"""

# No `from __future__ import annotations`: TFX reads the component's type hints at runtime.
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

ANOMALIES_FILE = "SchemaDiff.pb"


class DataAnomaliesError(RuntimeError):
    """The examples do not match the schema; the message lists every anomaly."""


def describe_anomalies(artifact: ExampleAnomalies) -> list:
    """One line per anomalous feature and split: '[train] purpose: <description>'."""
    lines = []
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            description = info.description or info.short_description
            lines.append(f"[{split}] {feature}: {description}")
        if anomalies.HasField("dataset_anomaly_info"):
            lines.append(f"[{split}] (dataset): {anomalies.dataset_anomaly_info.description}")
    return lines


@component
def AnomaliesGate(anomalies: InputArtifact[ExampleAnomalies]) -> None:
    found = describe_anomalies(anomalies)
    if found:
        raise DataAnomaliesError(
            f"ExampleValidator found {len(found)} anomalies; training stopped:\n  "
            + "\n  ".join(found)
        )
