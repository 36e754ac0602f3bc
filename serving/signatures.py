"""Signatures exported with every model.

`serving_default` takes serialized tf.Examples of *raw* features (label not needed),
applies the Transform graph and returns class probabilities: the signature TF Serving
calls and TFMA evaluates. `transform_features` exposes the Transform graph alone, so
TFMA can read the transformed label and the derived slicing features.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from pipelines.config import DomainConfig


def _parse_raw(serialized: tf.Tensor, tf_transform_output: tft.TFTransformOutput, drop: str):
    spec = dict(tf_transform_output.raw_feature_spec())
    spec.pop(drop, None)
    return tf.io.parse_example(serialized, spec)


def make_signatures(
    model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput, config: DomainConfig
) -> dict:
    label = config.features.label.name
    model.tft_layer = tf_transform_output.transform_features_layer()
    input_keys = list(model.input.keys()) if isinstance(model.input, dict) else model.input_names

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized: tf.Tensor) -> dict:
        transformed = model.tft_layer(_parse_raw(serialized, tf_transform_output, drop=label))
        probabilities = model({key: transformed[key] for key in input_keys}, training=False)
        if config.is_binary:
            return {"probability": tf.reshape(probabilities, [-1])}
        return {"probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized: tf.Tensor) -> dict:
        raw = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer(raw)

    return {"serving_default": serve_examples, "transform_features": transform_features}
