"""`predict_features`: the JSON-friendly signature of a tabular model, one named [batch]
input per raw feature, as a REST client writes them by hand in `instances`."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tensorflow_transform as tft

from aet.config import DomainConfig


def predict_features(
    predict: Callable[[dict], dict],
    tf_transform_output: tft.TFTransformOutput,
    config: DomainConfig,
):
    """The concrete signature: each input is reshaped into what the Transform graph
    parses from a tf.Example (a [batch, 1] tensor, or a sparse one for a feature that
    may be absent), then answered by `predict`."""
    spec = tf_transform_output.raw_feature_spec()
    names = config.features.input_names
    specs = {name: tf.TensorSpec([None], spec[name].dtype, name=name) for name in names}

    @tf.function
    def signature(**values: tf.Tensor) -> dict:
        parsed = {}
        for name in names:
            column = tf.reshape(values[name], [-1, 1])
            fixed = isinstance(spec[name], tf.io.FixedLenFeature)
            parsed[name] = column if fixed else tf.sparse.from_dense(column)
        return predict(parsed)

    return signature.get_concrete_function(**specs)
