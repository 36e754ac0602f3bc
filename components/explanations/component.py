"""A TFX component that shows what a model's answers rest on across held-out examples:
it calls the trained model's exported `explain` signature (the one clients call, so
the figures are those of the served explanations) on up to `count` raw examples of the
evaluation split, and the data kind turns the answers into its global view (mean
absolute attribution per feature for tabular domains, per-class average heat maps for
images), written as explanations.json with any image it draws.

It runs after the Trainer, beside the Evaluator; the run summary, the report and the
model card read its file.
"""

# No `from __future__ import annotations`: TFX reads the component's type hints at runtime.
import json
import os

import numpy as np
import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts
from tfx.utils import path_utils

from aet.components.split_records import first_records
from aet.config import DomainConfig
from aet.config.contract import EXPLANATION
from aet.config.kinds import kind_of

EXPLANATIONS_FILE = "explanations.json"
BATCH = 64


class GlobalExplanation(artifact.Artifact):
    """explanations.json (the data kind's global view of the explanations) and any
    images it refers to."""

    TYPE_NAME = "aet.GlobalExplanation"  # <namespace>.<Title>, as Kubeflow v2 requires


def explain_all(model_dir: str, records: list[bytes]) -> dict[str, np.ndarray]:
    """The `explain` signature's answers for every record, in batches."""
    explain = tf.saved_model.load(model_dir).signatures[EXPLANATION]
    batches = [
        {key: value.numpy() for key, value in explain(examples=tf.constant(chunk)).items()}
        for chunk in (records[start : start + BATCH] for start in range(0, len(records), BATCH))
    ]
    return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


def write_global_explanation(
    model_dir: str, records: list[bytes], config: DomainConfig, output: str
) -> dict:
    """The kind's summary of `explain` over `records`, also written to explanations.json."""
    summary = {"examples": len(records)}
    if records:
        outputs = explain_all(model_dir, records)
        summary |= kind_of(config).summarise_explanations(config, records, outputs, output)
    with tf.io.gfile.GFile(os.path.join(output, EXPLANATIONS_FILE), "w") as handle:
        json.dump(summary, handle, indent=2)
    return summary


def read_global_explanation(uri: str) -> dict | None:
    path = os.path.join(uri, EXPLANATIONS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as handle:
        return {"dir": uri, **json.load(handle)}


@component
def Explanations(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    explanations: OutputArtifact[GlobalExplanation],
    domain_config: Parameter[str],
    split: Parameter[str],
    count: Parameter[int],
) -> None:
    config = DomainConfig.parse_raw(domain_config)
    write_global_explanation(
        path_utils.serving_model_path(model.uri),
        first_records(examples.uri, split, count),
        config,
        explanations.uri,
    )
