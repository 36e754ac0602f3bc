"""Keras layers whose settings can change while a model trains."""

from __future__ import annotations

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="aet")
class VariableDropout(tf.keras.layers.Dropout):
    """Dropout whose rate is a non-trainable variable, read at every call.

    Keras' Dropout bakes its float rate into the traced training step; here a callback
    can assign a new rate between epochs without recompiling the model (so the optimizer
    state is kept), and the current rate is saved with the weights, so a resumed run
    continues with it. `get_config` keeps the initial rate.
    """

    def build(self, input_shape: tf.TensorShape) -> None:
        self.rate_variable = self.add_weight(
            name="rate",
            shape=(),
            initializer=tf.keras.initializers.Constant(self.rate),
            trainable=False,
        )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if training is None:
            training = tf.keras.backend.learning_phase()

        def dropped() -> tf.Tensor:
            return self._random_generator.dropout(
                inputs, self.rate_variable, noise_shape=self._get_noise_shape(inputs)
            )

        return tf.__internal__.smart_cond.smart_cond(training, dropped, lambda: tf.identity(inputs))
