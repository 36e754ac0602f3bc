"""TFMA run in-process on examples that already carry predictions, shared by the
evaluation and run-summary tests, with a three-class case whose per-class metrics are
worked out by hand."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma

# Three classes; one-vs-rest, a class is predicted when its probability is > 0.5 (the
# decision threshold), so the second example, whose top class is its label at 0.45,
# counts as missed:
#   class 0: predicted for rows 0 (label 0) and 5 (label 1) -> TP 1, FP 1, FN 2
#   class 1: predicted for rows 2 (label 0) and 3 (label 1) -> TP 1, FP 1, FN 2
#   class 2: predicted for rows 6, 7, 8 (all label 2)       -> TP 3, FP 0, FN 0
MULTICLASS_LABELS = [0, 0, 0, 1, 1, 1, 2, 2, 2]
MULTICLASS_PROBABILITIES = [
    [0.8, 0.1, 0.1],
    [0.45, 0.35, 0.2],
    [0.2, 0.7, 0.1],
    [0.1, 0.6, 0.3],
    [0.3, 0.3, 0.4],
    [0.6, 0.3, 0.1],
    [0.1, 0.1, 0.8],
    [0.05, 0.15, 0.8],
    [0.2, 0.2, 0.6],
]
PER_CLASS_RECALL = [1 / 3, 1 / 3, 3 / 3]
PER_CLASS_PRECISION = [1 / 2, 1 / 2, 3 / 3]


def evaluate_predictions(
    eval_config: tfma.EvalConfig,
    labels: Sequence[int],
    predictions: Sequence[float | Sequence[float]],
    folder: str,
    intervals: bool = False,
) -> str:
    """Runs TFMA in-process, as the Evaluator does, on examples that already carry the
    model's output: `eval_config`'s metrics, slices and thresholds, its model spec's label
    and prediction keys, but no model; its confidence intervals only with `intervals`
    (they cost 20-40 s a run here). Returns the output folder (the `evaluation`
    artifact's layout, what `pipelines.summary` reads)."""
    (model_spec,) = eval_config.model_specs
    config = tfma.EvalConfig()
    config.CopyFrom(eval_config)
    if not intervals:
        config.options.ClearField("compute_confidence_intervals")
    del config.model_specs[:]
    # A model answered beside its baselines is several outputs: each gets the same
    # predictions, read from a feature of its own.
    outputs = dict(model_spec.label_keys)
    if outputs:
        features = {output: f"prediction_{output}" for output in outputs}
        config.model_specs.add(label_keys=outputs, prediction_keys=features)
    else:
        features = {"": model_spec.prediction_key}
        config.model_specs.add(label_key=model_spec.label_key, prediction_key=features[""])
    label_key = next(iter(outputs.values())) if outputs else model_spec.label_key
    data = os.path.join(folder, "examples.tfrecord")
    with tf.io.TFRecordWriter(data) as writer:
        for label, prediction in zip(labels, predictions, strict=True):
            values = tf.train.Feature(
                float_list=tf.train.FloatList(value=np.atleast_1d(prediction))
            )
            feature = {
                label_key: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                **dict.fromkeys(features.values(), values),
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    output = os.path.join(folder, "evaluation")
    tfma.run_model_analysis(eval_config=config, data_location=data, output_path=output)
    return output
