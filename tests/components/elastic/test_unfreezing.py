"""Progressive unfreezing: the head trains alone first, earlier groups join one stage
at a time on a schedule or a plateau, frozen layers do not move, every group keeps its
own (lower for earlier layers) learning rate, and the optimizer state carries over."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.attention import TransformerBlock
from aet.components.elastic import ElasticLearningRate, EventLog
from aet.components.elastic.unfreezing import ProgressiveUnfreezing, unfreezing_groups
from aet.components.optimizers import LayerwiseOptimizer, build_optimizer, layerwise_optimizer


def _model() -> tf.keras.Model:
    tokens = tf.keras.Input((3, 4))
    x = tf.keras.layers.Dense(4, name="stem")(tokens)
    x = TransformerBlock(4, 2, dropout=0.0, attention_dropout=0.0, name="block_0")(x)
    x = TransformerBlock(4, 2, dropout=0.0, attention_dropout=0.0, name="block_1")(x)
    x = tf.keras.layers.Flatten()(x)
    output = tf.keras.layers.Dense(1, name="head")(x)
    return tf.keras.Model(tokens, output)


def _compiled(rate_decay: float = 0.5) -> tuple[tf.keras.Model, list]:
    model = _model()
    groups = unfreezing_groups(model)
    model.compile(optimizer=layerwise_optimizer(groups, 0.01, 0.0, rate_decay), loss="mse")
    build_optimizer(model)
    return model, groups


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3, 4)).astype("float32")
    return x, x.sum(axis=(1, 2))[:, None]


def _weights(layer: tf.keras.layers.Layer) -> list[np.ndarray]:
    return [w.copy() for w in layer.get_weights()]


def _moved(before: list[np.ndarray], layer: tf.keras.layers.Layer) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before, layer.get_weights(), strict=True))


def test_groups_run_from_the_head_back_to_the_stem() -> None:
    groups = unfreezing_groups(_model())
    assert [[layer.name for layer in group] for group in groups] == [
        ["head"],
        ["block_1"],
        ["block_0"],
        ["stem"],
    ]


def test_a_model_without_transformer_blocks_is_one_group() -> None:
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(3)])
    assert len(unfreezing_groups(model)) == 1


def test_earlier_groups_train_at_lower_rates() -> None:
    model, _ = _compiled(rate_decay=0.5)
    rates = [float(s["optimizer"].learning_rate.numpy()) for s in model.optimizer.optimizer_specs]
    assert rates == pytest.approx([0.01, 0.005, 0.0025, 0.00125])


def test_epoch_schedule_unfreezes_one_group_every_n_epochs_and_frozen_layers_stay() -> None:
    model, groups = _compiled()
    events = EventLog()
    callback = ProgressiveUnfreezing(groups, events, schedule="epochs", every_epochs=2)
    stem_before, block0_before = (
        _weights(model.get_layer("stem")),
        _weights(model.get_layer("block_0")),
    )
    x, y = _data()
    stages = []

    class Stage(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stages.append(logs["unfreezing_stage"])

    model.fit(x, y, epochs=4, batch_size=8, callbacks=[callback, Stage()], verbose=0)
    assert stages == [0, 0, 1, 1]  # the stage each epoch trained at
    assert callback.stage == 2
    assert not _moved(block0_before, model.get_layer("block_0"))  # not yet unfrozen
    assert not _moved(stem_before, model.get_layer("stem"))
    assert [layer.trainable for layer in model.layers if layer.weights] == [
        False,  # stem
        True,  # block_0, just unfrozen at the end of epoch 3
        True,
        True,
    ]
    assert [(e["epoch"], e["from"], e["to"]) for e in events.events] == [(1, 0, 1), (3, 1, 2)]
    assert "block_1" in events.events[0]["why"] and "block_0" in events.events[1]["why"]

    model.fit(x, y, epochs=6, initial_epoch=4, batch_size=8, callbacks=[callback], verbose=0)
    assert _moved(block0_before, model.get_layer("block_0"))
    assert callback.stage == 3 and not _moved(stem_before, model.get_layer("stem"))


def test_unfreezing_keeps_the_optimizer_and_its_state() -> None:
    model, groups = _compiled()
    optimizer = model.optimizer
    head_optimizer = optimizer.optimizer_specs[0]["optimizer"]
    callback = ProgressiveUnfreezing(groups, EventLog(), schedule="epochs", every_epochs=1)
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, callbacks=[callback], verbose=0)
    moments = [v.numpy().copy() for v in head_optimizer.variables]
    model.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, callbacks=[callback], verbose=0)
    assert model.optimizer is optimizer
    assert int(head_optimizer.iterations.numpy()) == 8  # 4 steps per epoch, never reset
    assert any(np.any(m != 0) for m in moments[1:])
    block_optimizer = optimizer.optimizer_specs[1]["optimizer"]
    assert int(block_optimizer.iterations.numpy()) == 4  # trained from its stage on


def test_plateau_schedule_unfreezes_when_the_monitor_stalls() -> None:
    model, groups = _compiled()
    events = EventLog()
    callback = ProgressiveUnfreezing(
        groups, events, schedule="plateau", monitor="val_loss", mode="min", patience=2
    )
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, loss in enumerate([1.0, 0.8, 0.81, 0.79]):
        callback.on_epoch_end(epoch, {"val_loss": loss})
    assert callback.stage == 0  # 0.79 improved on 0.8 before patience ran out
    callback.on_epoch_end(4, {"val_loss": 0.80})
    callback.on_epoch_end(5, {"val_loss": 0.85})
    assert callback.stage == 1
    assert events.events[0]["why"].startswith("val_loss did not improve for 2 epochs")


def test_the_last_stage_is_final() -> None:
    model, groups = _compiled()
    callback = ProgressiveUnfreezing(groups, EventLog(), every_epochs=1)
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(10):
        callback.on_epoch_end(epoch, {})
    assert callback.stage == len(groups) - 1
    assert all(layer.trainable for layer in model.layers)


def test_state_round_trip_restores_the_stage_and_the_trainable_layers() -> None:
    model, groups = _compiled()
    callback = ProgressiveUnfreezing(groups, EventLog(), every_epochs=1)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0, {})
    state = callback.get_state()

    fresh_model, fresh_groups = _compiled()
    fresh = ProgressiveUnfreezing(fresh_groups, EventLog(), every_epochs=1)
    fresh.set_model(fresh_model)
    fresh.set_state(state)
    fresh.on_train_begin()
    assert fresh.stage == 1
    assert [layer.name for layer in fresh_model.layers if layer.weights and layer.trainable] == [
        "block_1",
        "head",
    ]


def test_the_elastic_learning_rate_moves_every_group_in_proportion() -> None:
    model, _ = _compiled(rate_decay=0.5)
    assert isinstance(model.optimizer, LayerwiseOptimizer)
    callback = ElasticLearningRate("val_loss", "min", 0.01, patience=1, factor=0.5)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0, {"val_loss": 1.0})
    callback.on_epoch_end(1, {"val_loss": 1.1})  # no improvement: cut
    rates = [float(s["optimizer"].learning_rate.numpy()) for s in model.optimizer.optimizer_specs]
    assert rates == pytest.approx([0.005, 0.0025, 0.00125, 0.000625])


def test_an_image_model_with_attention_gates_trains_in_layer_groups() -> None:
    from aet.components.models.attention_cnn import ChannelSpatialAttention

    images = tf.keras.Input((8, 8, 4))
    x = ChannelSpatialAttention(name="stem_0_attention")(images)
    x = ChannelSpatialAttention(name="stem_1_attention")(x)
    output = tf.keras.layers.Dense(1, name="head")(tf.keras.layers.Flatten()(x))
    model = tf.keras.Model(images, output)
    names = [weight.name for weight in model.weights]
    assert len(set(names)) == len(names)  # each gate's three sub-layers, apart
    model.compile(
        optimizer=layerwise_optimizer(unfreezing_groups(model), 0.01, 0.0, 0.5), loss="mse"
    )
    build_optimizer(model)
    before = _weights(model.get_layer("stem_0_attention"))
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(8, 8, 8, 4)), rng.normal(size=(8, 1)), epochs=1, verbose=0)
    assert _moved(before, model.get_layer("stem_0_attention"))


def test_variables_that_share_a_name_are_refused_with_the_names() -> None:
    class Twins(tf.keras.layers.Layer):
        def build(self, input_shape) -> None:
            self.left, self.right = tf.keras.layers.Dense(2), tf.keras.layers.Dense(2)
            self.left.build(input_shape)
            self.right.build(input_shape)

        def call(self, inputs):
            return self.left(inputs) + self.right(inputs)

    inputs = tf.keras.Input((2,))
    model = tf.keras.Model(inputs, Twins(name="twins")(inputs))
    with pytest.raises(
        ValueError, match=r"variables share a name \(twins/bias:0, twins/kernel:0\)"
    ):
        layerwise_optimizer(unfreezing_groups(model), 0.01, 0.0, 0.5)
