"""Weights taken in one unfreezing stage set back in another: early stopping restores
the best epoch of a model whose layers froze and unfroze in between."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.components.elastic.early_stopping import ResumableEarlyStopping
from aet.components.elastic.weights import in_stable_order


class _Gated(tf.keras.layers.Layer):
    """A layer with a trainable kernel beside a non-trainable scalar, like a block with
    a variable dropout rate."""

    def build(self, input_shape) -> None:
        self.dense = tf.keras.layers.Dense(3, name="dense")
        with tf.name_scope("dense"):
            self.dense.build(input_shape)
        self.rate = self.add_weight("rate", (), initializer="zeros", trainable=False)

    def call(self, inputs):
        return self.dense(inputs) * (1 - self.rate)


def _model() -> tf.keras.Model:
    inputs = tf.keras.Input((2,))
    outputs = tf.keras.layers.Dense(1, name="head")(_Gated(name="block")(inputs))
    return tf.keras.Model(inputs, outputs)


def test_weights_keep_one_order_whichever_layers_are_frozen() -> None:
    model = _model()
    with in_stable_order(model):
        unfrozen = [w.shape for w in model.get_weights()]
    model.get_layer("block").dense.trainable = False
    assert [w.shape for w in model.get_weights()] != unfrozen  # Keras reorders them
    with in_stable_order(model):
        assert [w.shape for w in model.get_weights()] == unfrozen
    assert model.get_layer("block").trainable
    assert not model.get_layer("block").dense.trainable  # the setting is back


def test_early_stopping_restores_the_best_epoch_across_an_unfreezing() -> None:
    model = _model()
    model.get_layer("block").dense.trainable = False  # the first stage: head only
    stopping = ResumableEarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    stopping.set_model(model)
    stopping.on_train_begin()
    stopping.on_epoch_end(0, {"val_loss": 1.0})
    best = {w.name: w.numpy().copy() for w in model.weights}
    model.get_layer("block").dense.trainable = True  # the next stage
    for weight in model.weights:
        weight.assign(weight + 1.0)
    stopping.on_epoch_end(1, {"val_loss": 2.0})  # worse: stops, restoring epoch 0
    assert model.stop_training
    for weight in model.weights:
        np.testing.assert_array_equal(weight.numpy(), best[weight.name])
