"""Tabular features in Transform: numbers z-scored, categories mapped through a
vocabulary of the training split with an out-of-vocabulary bucket, and bucket features
(e.g. an age band) emitted as readable strings for slicing. The statistics come from TFT
analyzers, so they are frozen into the serving graph."""

from __future__ import annotations

import itertools

import tensorflow as tf
import tensorflow_transform as tft

from aet.components.features import transformed_name
from aet.components.preprocessing import NUM_OOV_BUCKETS, as_text, dense
from aet.config import BucketConfig, FeaturesConfig


def bucket_labels(boundaries: list[float]) -> list[str]:
    """Readable names for the intervals that `boundaries` cut: ['<25', '25-35', '>=35']."""
    # Whole numbers in full (1000000, not 1e+06); others in their shortest form.
    edges = [f"{b:.0f}" if float(b).is_integer() else f"{b:g}" for b in boundaries]
    inner = [f"{low}-{high}" for low, high in itertools.pairwise(edges)]
    return [f"<{edges[0]}", *inner, f">={edges[-1]}"]


def _bucketize(values: tf.Tensor, bucket: BucketConfig) -> tf.Tensor:
    index = tft.apply_buckets(values, tf.constant([bucket.boundaries], tf.float32))
    return tf.gather(tf.constant(bucket_labels(bucket.boundaries)), index)


def tabular_features(inputs: dict, features: FeaturesConfig) -> dict:
    outputs = {}
    numeric_values = {}
    for name in features.numeric:
        values = tf.cast(dense(inputs[name], 0), tf.float32)
        numeric_values[name] = values
        outputs[transformed_name(name)] = tft.scale_to_z_score(values)
    for name in features.categorical:
        outputs[transformed_name(name)] = tft.compute_and_apply_vocabulary(
            dense(as_text(inputs[name]), ""),
            num_oov_buckets=NUM_OOV_BUCKETS,
            vocab_filename=name,
        )
    for bucket in features.buckets:
        outputs[bucket.name] = _bucketize(numeric_values[bucket.source], bucket)
    return outputs
