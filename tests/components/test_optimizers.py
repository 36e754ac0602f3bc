"""AdamWVariableDecay: the weight decay is read at every step of a traced update, and a
compiled model with it saves and reloads with the current value."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.optimizers import AdamWVariableDecay


def test_a_new_decay_applies_inside_the_traced_update() -> None:
    optimizer = AdamWVariableDecay(learning_rate=0.1, weight_decay=0.0)
    weights = tf.Variable([1.0, 2.0])

    @tf.function
    def update() -> None:  # zero gradients: Adam moves nothing, only the decay acts
        optimizer.apply_gradients([(tf.zeros_like(weights), weights)])

    update()
    np.testing.assert_allclose(weights.numpy(), [1.0, 2.0])
    optimizer.weight_decay.assign(0.5)
    update()
    np.testing.assert_allclose(weights.numpy(), np.array([1.0, 2.0]) * (1 - 0.1 * 0.5))


def test_compiled_model_saves_and_reloads_with_the_current_decay(tmp_path) -> None:
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=AdamWVariableDecay(learning_rate=0.01, weight_decay=0.02), loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    model.optimizer.weight_decay.assign(0.3)
    assert model.optimizer.get_config()["weight_decay"] == pytest.approx(0.3)

    model.save(tmp_path / "model", save_format="tf")
    reloaded = tf.keras.models.load_model(tmp_path / "model")
    assert isinstance(reloaded.optimizer, AdamWVariableDecay)
    assert float(reloaded.optimizer.weight_decay.numpy()) == pytest.approx(0.3)
