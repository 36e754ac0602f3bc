"""Synthetic tabular records for the warm-up requests and the serving check: each field
drawn on its own (numbers uniformly between the sample's smallest and largest, integers
kept integral; categories among those the sample holds), so no record is anyone's row."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.config import DomainConfig


def _values(examples: list[tf.train.Example], name: str) -> tuple[str, list]:
    """(the feature's kind in the examples, its first value in each that has it)."""
    kind, values = "", []
    for example in examples:
        feature = example.features.feature.get(name)
        if feature is None or feature.WhichOneof("kind") is None:
            continue
        kind = feature.WhichOneof("kind")
        listed = getattr(feature, kind).value
        if listed:
            values.append(listed[0])
    return kind, values


def synthetic_examples(config: DomainConfig, examples: list[bytes], seed: int) -> list[bytes]:
    """As many serialized examples as `examples`, each input feature encoded as theirs
    is; the label is left out, as a client leaves it out."""
    rng = np.random.default_rng(seed)
    parsed = [tf.train.Example.FromString(serialized) for serialized in examples]
    columns = {name: _values(parsed, name) for name in config.features.input_names}
    synthetic = []
    for _ in examples:
        features = {}
        for name, (kind, values) in columns.items():
            if not values:
                continue
            if name in config.features.categorical or kind == "bytes_list":
                drawn = values[rng.integers(len(values))]
                features[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[drawn]))
            elif kind == "int64_list":
                drawn = int(rng.integers(min(values), max(values) + 1))
                features[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[drawn]))
            else:
                drawn = float(rng.uniform(min(values), max(values)))
                features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[drawn]))
        example = tf.train.Example(features=tf.train.Features(feature=features))
        synthetic.append(example.SerializeToString())
    return synthetic
