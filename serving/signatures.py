"""Signatures exported with every model.

`serve_examples` takes serialized tf.Examples of *raw* features (label not needed),
applies the Transform graph and returns class probabilities: the signature TFMA
evaluates, and `serving_default` for tabular domains. Image domains serve encoded image
bytes instead (`serve_image_bytes`, their `serving_default`), so a REST client sends
a PNG or JPEG as base64 and gets the same preprocessing. `transform_features` exposes
the Transform graph alone, so TFMA can read the transformed label and the derived
slicing features.

A model trained with class weights w_k learns probabilities inflated in proportion to
w_k (balanced weights make a 30 % class look like 50 %). The served probabilities undo
that, p_k ∝ p'_k / w_k, so a "probability of default" is a calibrated probability and
not an artefact of the training loss; ranking (AUC) is unchanged.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.features import model_inputs
from pipelines.config import DomainConfig


def _parse_inputs(
    serialized: tf.Tensor, tf_transform_output: tft.TFTransformOutput, config: DomainConfig
) -> dict:
    """The raw features the model needs, and only those: no label, and none of what
    ingestion records beside an image (its source file, original size)."""
    spec = tf_transform_output.raw_feature_spec()
    return tf.io.parse_example(serialized, {name: spec[name] for name in model_inputs(config)})


def undo_class_weights(probabilities: tf.Tensor, class_weights: dict[int, float]) -> tf.Tensor:
    """[batch, k] probabilities of a class-weighted model -> the unweighted ones."""
    weights = [class_weights.get(index) or 1.0 for index in range(probabilities.shape[-1])]
    adjusted = probabilities / tf.constant(weights, probabilities.dtype)
    return adjusted / tf.reduce_sum(adjusted, axis=-1, keepdims=True)


def transform_features_signature(
    model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput
) -> tf.types.experimental.GenericFunction:
    """The Transform graph alone on serialized raw examples (through `model.tft_layer`,
    which the caller has attached): where TFMA reads the transformed label and slices."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized: tf.Tensor) -> dict:
        raw = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer(raw)

    return transform_features


def make_signatures(
    model: tf.keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    config: DomainConfig,
    class_weights: dict[int, float] | None = None,
) -> dict:
    """The exported signatures; `class_weights` are those training used, if any."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    input_keys = list(model.input.keys()) if isinstance(model.input, dict) else model.input_names

    def predict(raw: dict) -> dict:
        transformed = model.tft_layer(raw)
        probabilities = model({key: transformed[key] for key in input_keys}, training=False)
        if config.is_binary:
            probabilities = tf.concat([1.0 - probabilities, probabilities], axis=-1)
        if class_weights:
            probabilities = undo_class_weights(probabilities, class_weights)
        if config.is_binary:
            return {"probability": probabilities[:, 1]}
        return {"probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized: tf.Tensor) -> dict:
        return predict(_parse_inputs(serialized, tf_transform_output, config))

    signatures = {
        "serve_examples": serve_examples,
        "transform_features": transform_features_signature(model, tf_transform_output),
    }
    if config.features.image is None:
        return {"serving_default": serve_examples, **signatures}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_image_bytes(encoded: tf.Tensor) -> dict:
        return predict({config.features.image.name: tf.reshape(encoded, [-1, 1])})

    return {"serving_default": serve_image_bytes, **signatures}
