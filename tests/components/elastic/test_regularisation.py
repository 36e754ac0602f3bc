"""ElasticRegularisation driven by controlled train/validation metrics: dropout rises
when the gap stays wide, falls when it stays negative, within bounds, without a
recompile, and every change is an event."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.attention import TransformerBlock
from aet.components.elastic.events import EventLog
from aet.components.elastic.regularisation import ElasticRegularisation, variable_dropouts
from aet.components.layers import VariableDropout
from aet.components.optimizers import AdamWVariableDecay


def _model(rate: float = 0.1) -> tf.keras.Model:
    tokens = tf.keras.Input((3, 4))
    x = TransformerBlock(4, 2, dropout=rate, attention_dropout=0.0)(tokens)
    output = tf.keras.layers.Dense(1)(tf.keras.layers.Flatten()(x))
    model = tf.keras.Model(tokens, output)
    model.compile(optimizer="adam", loss="mse")
    return model


def _callback(model: tf.keras.Model, **kwargs) -> tuple[ElasticRegularisation, EventLog]:
    events = EventLog()
    callback = ElasticRegularisation("auc", events, **{"settle_epochs": 0, **kwargs})
    callback.set_model(model)
    return callback, events


def _rates(model: tf.keras.Model) -> set[float]:
    return {round(float(layer.rate_variable.numpy()), 6) for layer in variable_dropouts(model)}


def test_the_transformer_block_dropouts_are_variable() -> None:
    assert len(variable_dropouts(_model())) == 3  # attention output, FFN inner, FFN output


def test_a_wide_gap_for_patience_epochs_raises_dropout_by_one_step() -> None:
    model = _model(0.1)
    callback, events = _callback(model, widen_above=0.05, patience=2, step=0.05)
    callback.on_epoch_end(0, {"auc": 0.90, "val_auc": 0.80})
    assert _rates(model) == {0.1}  # one epoch is not yet a trend
    logs = {"auc": 0.92, "val_auc": 0.80}
    callback.on_epoch_end(1, logs)
    assert _rates(model) == {0.15}
    assert logs["dropout_rate"] == pytest.approx(0.1)  # the rate this epoch trained with
    [event] = events.events
    assert (event["epoch"], event["what"], event["from"], event["to"]) == (
        1,
        "dropout_rate",
        0.1,
        0.15,
    )
    assert event["why"] == "auc gap 0.1200 above 0.05 for 2 epochs"


def test_a_gap_back_in_range_resets_the_count() -> None:
    model = _model(0.1)
    callback, _ = _callback(model, widen_above=0.05, patience=2)
    for epoch, val_auc in enumerate([0.8, 0.88, 0.8, 0.88]):
        callback.on_epoch_end(epoch, {"auc": 0.9, "val_auc": val_auc})
    assert _rates(model) == {0.1}


def test_rates_stay_within_bounds() -> None:
    model = _model(0.4)
    callback, events = _callback(model, patience=1, step=0.2, max_rate=0.5)
    for epoch in range(3):
        callback.on_epoch_end(epoch, {"auc": 0.99, "val_auc": 0.7})
    assert _rates(model) == {0.5}
    assert len(events.events) == 1  # at the bound: no further change, no event

    underfit = _model(0.1)
    callback, _ = _callback(underfit, narrow_below=0.0, patience=1, step=0.05, min_rate=0.0)
    for epoch in range(4):
        callback.on_epoch_end(epoch, {"auc": 0.70, "val_auc": 0.75})
    assert _rates(underfit) == {0.0}


def test_a_loss_gap_is_validation_minus_train() -> None:
    model = _model(0.1)
    events = EventLog()
    callback = ElasticRegularisation("loss", events, widen_above=0.1, patience=1, settle_epochs=0)
    callback.set_model(model)
    callback.on_epoch_end(0, {"loss": 0.3, "val_loss": 0.5})
    assert _rates(model) == {0.15}


def test_new_rates_apply_in_the_compiled_training_step_without_recompiling() -> None:
    layer = VariableDropout(0.1)
    ones = tf.ones([200, 200])
    step = tf.function(lambda x: layer(x, training=True))
    assert float(tf.reduce_mean(tf.cast(step(ones) == 0, tf.float32))) == pytest.approx(
        0.1, abs=0.02
    )
    layer.rate_variable.assign(0.6)
    assert float(tf.reduce_mean(tf.cast(step(ones) == 0, tf.float32))) == pytest.approx(
        0.6, abs=0.02
    )
    np.testing.assert_array_equal(layer(ones, training=False).numpy(), ones.numpy())


def test_state_round_trip_continues_the_count() -> None:
    model = _model(0.1)
    first, _ = _callback(model, patience=3)
    first.on_epoch_end(0, {"auc": 0.9, "val_auc": 0.8})
    first.on_epoch_end(1, {"auc": 0.9, "val_auc": 0.8})
    resumed, events = _callback(model, patience=3)
    resumed.set_state(first.get_state())
    resumed.on_epoch_end(2, {"auc": 0.9, "val_auc": 0.8})
    assert _rates(model) == {0.15} and len(events.events) == 1


def test_the_current_rate_is_saved_with_the_model(tmp_path) -> None:
    model = _model(0.1)
    for layer in variable_dropouts(model):
        layer.rate_variable.assign(0.3)
    model.save(tmp_path / "m", save_format="tf")
    reloaded = tf.keras.models.load_model(tmp_path / "m")
    assert _rates(reloaded) == {0.3}


def test_weight_decay_follows_the_gap_by_its_factor_within_bounds() -> None:
    model = _model(0.1)
    model.compile(optimizer=AdamWVariableDecay(weight_decay=0.01), loss="mse")
    events = EventLog()
    callback = ElasticRegularisation(
        "auc",
        events,
        patience=1,
        settle_epochs=0,
        weight_decay_factor=2.0,
        max_weight_decay=0.03,
    )
    callback.set_model(model)
    decay = model.optimizer.weight_decay

    callback.on_epoch_end(0, {"auc": 0.95, "val_auc": 0.80})
    assert float(decay.numpy()) == pytest.approx(0.02)
    callback.on_epoch_end(1, {"auc": 0.95, "val_auc": 0.80})
    assert float(decay.numpy()) == pytest.approx(0.03)  # capped at max_weight_decay
    callback.on_epoch_end(2, {"auc": 0.70, "val_auc": 0.75})
    assert float(decay.numpy()) == pytest.approx(0.015)
    changes = [(e["what"], e["from"], e["to"]) for e in events.events]
    assert ("weight_decay", 0.01, 0.02) in changes
    assert ("weight_decay", 0.02, 0.03) in changes
    assert ("weight_decay", 0.03, 0.015) in changes


def test_weight_decay_stays_fixed_with_factor_one() -> None:
    model = _model(0.1)
    model.compile(optimizer=AdamWVariableDecay(weight_decay=0.01), loss="mse")
    callback, events = _callback(model, patience=1)
    callback.on_epoch_end(0, {"auc": 0.95, "val_auc": 0.80})
    assert float(model.optimizer.weight_decay.numpy()) == pytest.approx(0.01)
    assert [e["what"] for e in events.events] == ["dropout_rate"]


def test_a_rate_already_at_its_bound_records_no_change() -> None:
    # 0.1 reads back from float32 as 0.10000000149: still the 0.1 bound, not a change.
    model = _model(0.1)
    model.compile(optimizer=AdamWVariableDecay(weight_decay=0.1), loss="mse")
    callback, events = _callback(
        model, patience=1, max_rate=0.1, weight_decay_factor=2.0, max_weight_decay=0.1
    )
    callback.on_epoch_end(0, {"auc": 0.95, "val_auc": 0.80})
    callback.on_epoch_end(1, {"auc": 0.95, "val_auc": 0.80})
    assert events.events == []


def test_the_first_epochs_are_not_judged() -> None:
    # Early on the training metric averages over a fast-changing model under dropout:
    # a negative gap there is not underfitting.
    model = _model(0.3)
    callback, events = _callback(model, patience=1, settle_epochs=3, narrow_below=-0.03)
    for epoch in range(3):
        callback.on_epoch_end(epoch, {"auc": 0.55, "val_auc": 0.70})
    assert events.events == [] and _rates(model) == {0.3}
    callback.on_epoch_end(3, {"auc": 0.55, "val_auc": 0.70})
    assert _rates(model) == {0.25}


def test_a_small_negative_gap_is_not_underfitting_by_default() -> None:
    model = _model(0.3)
    events = EventLog()
    callback = ElasticRegularisation("auc", events, patience=1)
    callback.set_model(model)
    for epoch in range(8):
        callback.on_epoch_end(epoch, {"auc": 0.74, "val_auc": 0.75})
    assert events.events == [] and _rates(model) == {0.3}
