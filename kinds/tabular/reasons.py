"""Reason codes from a tabular `explain` answer, as `aet predict --explain` prints them:
per record, the features that pushed the explained class's probability up most and
those that pushed it down most, each with the record's own value, beside the
probability and the typical row's (the attributions' baseline).

The values come from the request itself (the serialized tf.Examples the client sent),
so nothing here needs the model or the training data.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.config import DomainConfig
from aet.kinds.classifier import explained_probability
from aet.kinds.tabular.explanations import completeness_gaps
from aet.serving.examples import first_value


def _value(example: tf.train.Example, name: str) -> object:
    """The record's first value of `name` as JSON shows it (None where it sent none)."""
    _, value = first_value(example, name)
    return value.decode("utf-8", errors="backslashreplace") if isinstance(value, bytes) else value


def _reasons(order: np.ndarray, row: np.ndarray, names: list[str], example, sign: int) -> list:
    return [
        {
            "feature": names[i],
            "value": _value(example, names[i]),
            "attribution": round(float(row[i]), 4),
        }
        for i in order
        if sign * row[i] > 0
    ]


def reason_codes(
    config: DomainConfig, examples: np.ndarray, outputs: dict[str, np.ndarray]
) -> list[dict]:
    """One JSON-friendly record per example: the class explained, its probability, the
    baseline's, the top `serving.reasons` features raising and lowering it, and how far
    the attributions fall from summing to the difference (integrated gradients' check)."""
    names = config.features.input_names
    count = config.serving.reasons
    probabilities = explained_probability(config, outputs)
    gaps = completeness_gaps(config, outputs)
    records = []
    for index, serialized in enumerate(examples):
        example = tf.train.Example.FromString(serialized)
        row = outputs["attributions"][index]
        order = np.argsort(-row)
        records.append(
            {
                "explained_class": outputs["explained_class"][index].decode(),
                "probability": round(float(probabilities[index]), 4),
                "baseline_probability": round(float(outputs["baseline_probability"][index]), 4),
                "raised_by": _reasons(order[:count], row, names, example, +1),
                "lowered_by": _reasons(order[::-1][:count], row, names, example, -1),
                "attributions": {
                    name: round(float(v), 4) for name, v in zip(names, row, strict=True)
                },
                "unexplained": round(float(gaps[index]), 4),
            }
        )
    return records
