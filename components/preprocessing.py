"""The generic Transform `preprocessing_fn`: the domain's data kind transforms its inputs
(kinds/<kind>/transform.py), from the helpers here that every kind shares.

All statistics come from TFT analyzers, so they are computed over the full training
split by Beam and frozen into the serving graph, which is why a served model takes the
same raw features the pipeline ingested.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from aet.components.features import LABEL_VOCABULARY, from_custom_config
from aet.config import LabelConfig
from aet.config.kinds import kind_of

NUM_OOV_BUCKETS = 1  # ids past a vocabulary's end, for values training never saw


def dense(tensor: tf.Tensor | tf.SparseTensor, default: float | str) -> tf.Tensor:
    """A [batch, 1] dense tensor; missing values (sparse inputs) take `default`."""
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(
            tf.sparse.reset_shape(tensor, [tensor.dense_shape[0], 1]), default_value=default
        )
    return tf.reshape(tensor, [-1, 1])


def as_text(tensor: tf.Tensor | tf.SparseTensor) -> tf.Tensor | tf.SparseTensor:
    """Text values; sparse stays sparse so that `dense` can fill missing values with ''."""
    if tensor.dtype == tf.string:
        return tensor
    if isinstance(tensor, tf.SparseTensor):
        values = tf.strings.as_string(tensor.values)
        return tf.SparseTensor(tensor.indices, values, tensor.dense_shape)
    return tf.strings.as_string(tensor)


def class_index(inputs: dict, label: LabelConfig) -> tf.Tensor:
    """The label as the index of its class in the config (-1 for an unknown value), and
    the class frequencies of the training split, which the Trainer reads for class
    weights."""
    label_text = dense(as_text(inputs[label.name]), "")
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(label.classes), tf.range(len(label.classes), dtype=tf.int64)
        ),
        default_value=-1,
    )
    tft.vocabulary(label_text, vocab_filename=LABEL_VOCABULARY, store_frequency=True)
    return table.lookup(label_text)


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    config = from_custom_config(custom_config)
    return kind_of(config).preprocessing(inputs, config)
