"""Optimizers whose regularisation can change while a model trains."""

from __future__ import annotations

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="aet")
class AdamWVariableDecay(tf.keras.optimizers.AdamW):
    """AdamW whose weight decay is a non-trainable variable.

    Keras' AdamW keeps `weight_decay` a Python float that the traced training step
    captures once; as a variable it is read at every step, so ElasticRegularisation can
    change it between epochs without recompiling, and it is checkpointed with the
    optimizer. `get_config` reports its current value as a float.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.weight_decay = tf.Variable(
            float(self.weight_decay), trainable=False, name="weight_decay", dtype=tf.float32
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "weight_decay": float(self.weight_decay.numpy())}
