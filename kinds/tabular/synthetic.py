"""Synthetic tabular records for the warm-up requests and the serving check: each field
drawn on its own (numbers uniformly between the sample's smallest and largest, integers
kept integral; categories among those the sample holds), and drawn again should it
equal a sample row."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.config import DomainConfig
from aet.serving.examples import first_value

MAX_DRAWS = 20


def _values(examples: list[tf.train.Example], name: str) -> tuple[str, list]:
    """(the feature's kind in the examples, its first value in each that has it)."""
    found = [first_value(example, name) for example in examples]
    kinds = [kind for kind, _ in found if kind]
    return (kinds[-1] if kinds else ""), [value for kind, value in found if kind]


def _drawn(rng: np.random.Generator, kind: str, values: list, categorical: bool):
    """One value for a feature: one the sample holds for a category, else a number
    between the sample's smallest and largest (an integer where the data's are)."""
    if categorical or kind == "bytes_list":
        return values[rng.integers(len(values))]
    if kind == "int64_list":
        return int(rng.integers(min(values), max(values) + 1))
    return float(rng.uniform(min(values), max(values)))


def _feature(kind: str, value) -> tf.train.Feature:
    if kind == "bytes_list":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    if kind == "int64_list":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def synthetic_examples(config: DomainConfig, examples: list[bytes], seed: int) -> list[bytes]:
    """As many serialized examples as `examples`, each input feature encoded as theirs
    is, serialized in key order (the same bytes in every process); the label is left
    out, as a client leaves it out. A record that happens to
    equal a sample row is drawn again (a few times; a sample with one value per field
    cannot be hidden, and keeps its record)."""
    rng = np.random.default_rng(seed)
    parsed = [tf.train.Example.FromString(serialized) for serialized in examples]
    categorical = set(config.features.categorical)
    columns = {
        name: values for name in config.features.input_names if (values := _values(parsed, name))[1]
    }
    seen = {tuple(first_value(example, name)[1] for name in columns) for example in parsed}
    synthetic = []
    for _ in examples:
        for _attempt in range(MAX_DRAWS):
            record = {
                name: _drawn(rng, kind, values, name in categorical)
                for name, (kind, values) in columns.items()
            }
            if tuple(record.values()) not in seen:
                break
        features = {name: _feature(columns[name][0], value) for name, value in record.items()}
        example = tf.train.Example(features=tf.train.Features(feature=features))
        synthetic.append(example.SerializeToString(deterministic=True))
    return synthetic
