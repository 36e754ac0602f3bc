"""`ElasticLearningRate` driven batch by batch and epoch by epoch with chosen monitor
values, so every adaptation (warm-up rate, cut epoch, new rate, restored weights) is
asserted exactly; then one real `fit`."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from aet.components.elastic import ElasticLearningRate, EventLog

BASE = 0.1


def _model() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(2,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=BASE), loss="mse")
    return model


def _callback(model: tf.keras.Model | None = None, **kwargs) -> ElasticLearningRate:
    settings = {"monitor": "val_loss", "mode": "min", "base_rate": BASE, "patience": 3}
    callback = ElasticLearningRate(**{**settings, **kwargs})
    callback.set_model(model or _model())
    callback.on_train_begin()
    return callback


def _rate(callback: ElasticLearningRate) -> float:
    return float(callback.model.optimizer.learning_rate.numpy())


def _epochs(callback: ElasticLearningRate, values: list[float], start: int = 0) -> list[float]:
    """Ends one epoch per value; returns the rate after each epoch's adaptation."""
    rates = []
    for epoch, value in enumerate(values, start=start):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"val_loss": value})
        rates.append(_rate(callback))
    return rates


def _batches(callback: ElasticLearningRate, count: int) -> None:
    for batch in range(count):
        callback.on_train_batch_begin(batch)
        callback.on_train_batch_end(batch)


def _cut_epochs(callback: ElasticLearningRate) -> list[int]:
    return [e["epoch"] for e in callback.events.events if "did not improve" in e["why"]]


# --- warm-up ------------------------------------------------------------------------------


def test_warmup_ramps_linearly_to_the_base_rate_then_holds():
    callback = _callback(warmup_steps=4)
    rates = []
    for batch in range(6):
        callback.on_train_batch_begin(batch)
        rates.append(_rate(callback))
        callback.on_train_batch_end(batch)
    assert rates == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    assert callback.events.events == [
        {
            "epoch": 0,
            "step": 4,
            "callback": "ElasticLearningRate",
            "what": "learning_rate",
            "from": pytest.approx(0.025),
            "to": pytest.approx(0.1),
            "why": "linear warm-up over 4 steps finished",
        }
    ]


def test_no_warmup_trains_at_the_base_rate_from_the_first_batch():
    model = _model()
    model.optimizer.learning_rate = 0.7
    callback = _callback(model, warmup_steps=0)
    callback.on_train_batch_begin(0)
    assert _rate(callback) == pytest.approx(BASE)
    assert callback.events.events == []


# --- plateau cuts -------------------------------------------------------------------------


def test_rate_is_cut_after_patience_epochs_without_improvement():
    callback = _callback(patience=3, factor=0.5)
    rates = _epochs(callback, [1.0, 0.9, 0.95, 0.91, 0.9, 0.93])
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
    (cut,) = callback.events.events
    assert cut == {
        "epoch": 4,
        "step": 0,
        "callback": "ElasticLearningRate",
        "what": "learning_rate",
        "from": pytest.approx(0.1),
        "to": pytest.approx(0.05),
        "why": "val_loss did not improve for 3 epochs (best 0.9 at epoch 1)",
    }


def test_an_improvement_smaller_than_min_delta_does_not_count():
    callback = _callback(patience=2, min_delta=0.01)
    _epochs(callback, [1.0, 0.995, 0.991])
    assert _cut_epochs(callback) == [2]


def test_cuts_stop_at_the_floor():
    callback = _callback(patience=1, factor=0.1, min_rate=0.005)
    rates = _epochs(callback, [1.0] * 5)
    assert rates == pytest.approx([0.1, 0.01, 0.005, 0.005, 0.005])
    assert [e["to"] for e in callback.events.events] == pytest.approx([0.01, 0.005])


def test_cooldown_epochs_are_not_counted():
    without = _callback(patience=2, cooldown=0)
    _epochs(without, [1.0] * 9)
    assert _cut_epochs(without) == [2, 4, 6, 8]
    cooled = _callback(patience=2, cooldown=2)
    _epochs(cooled, [1.0] * 9)
    assert _cut_epochs(cooled) == [2, 6]


def test_an_improvement_during_cooldown_becomes_the_new_best():
    callback = _callback(patience=2, cooldown=2)
    _epochs(callback, [1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6])
    assert _cut_epochs(callback) == [2, 6]
    assert "best 0.5 at epoch 3" in callback.events.events[-1]["why"]


@pytest.mark.parametrize(("mode", "cut_at"), [("max", [3]), ("min", [2])])
def test_mode_sets_the_direction_of_improvement(mode, cut_at):
    callback = _callback(mode=mode, patience=2)
    _epochs(callback, [0.5, 0.6, 0.6, 0.6])
    assert _cut_epochs(callback) == cut_at


def test_a_cut_during_warmup_lowers_the_rate_it_heads_for():
    callback = _callback(warmup_steps=4, patience=1)
    _epochs(callback, [1.0, 1.0])
    callback.on_train_batch_begin(0)
    assert _rate(callback) == pytest.approx(0.05 / 4)


def test_the_epoch_logs_carry_the_rate_the_epoch_trained_with():
    callback = _callback(patience=1)
    logs = [{"val_loss": 1.0}, {"val_loss": 1.0}, {"val_loss": 1.0}]
    for epoch, epoch_logs in enumerate(logs):
        callback.on_epoch_end(epoch, epoch_logs)
    assert [entry["learning_rate"] for entry in logs] == pytest.approx([0.1, 0.1, 0.05])


def test_a_missing_monitor_is_reported_and_nothing_changes(caplog):
    callback = _callback(patience=1)
    logs = {"loss": 1.0}
    with caplog.at_level(logging.WARNING):
        for epoch in range(3):
            callback.on_epoch_end(epoch, logs)
    assert "'val_loss' is not in the epoch logs" in caplog.text
    assert logs["learning_rate"] == pytest.approx(BASE)
    assert callback.events.events == []


# --- restoring the best weights -----------------------------------------------------------


def test_a_cut_restores_the_exact_weights_of_the_best_epoch():
    model = _model()
    callback = _callback(model, patience=2, restore_best_on_cut=True)
    rng = np.random.default_rng(0)
    seen = []
    for epoch, value in enumerate([1.0, 0.8, 0.9, 0.85]):
        model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
        seen.append(model.get_weights())
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"val_loss": value})
    for restored, best in zip(model.get_weights(), seen[1], strict=True):
        np.testing.assert_array_equal(restored, best)
    cut, restore = callback.events.events
    assert cut["what"] == "learning_rate"
    assert restore == {
        "epoch": 3,
        "step": 0,
        "callback": "ElasticLearningRate",
        "what": "weights",
        "from": 3,
        "to": 1,
        "why": "restored the weights of epoch 1 (val_loss 0.8) at the learning-rate cut",
    }


def test_without_restore_the_weights_stay():
    model = _model()
    callback = _callback(model, patience=1)
    _epochs(callback, [1.0])
    latest = [w + 1 for w in model.get_weights()]
    model.set_weights(latest)
    _epochs(callback, [1.0], start=1)
    assert _cut_epochs(callback) == [1]
    for kept, expected in zip(model.get_weights(), latest, strict=True):
        np.testing.assert_array_equal(kept, expected)


# --- state for a resumed run --------------------------------------------------------------


def test_state_round_trips_through_json_and_a_fresh_callback_continues_identically():
    settings = {"warmup_steps": 6, "patience": 2, "cooldown": 1, "factor": 0.5}
    values = [1.0, 0.9, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]
    reference = _callback(**settings)
    _batches(reference, 7)
    _epochs(reference, values)

    first = _callback(**settings)
    _batches(first, 4)  # stopped mid-warm-up ...
    _epochs(first, values[:4])
    state = json.loads(json.dumps(first.get_state()))
    assert state == {
        "best": 0.9,
        "best_epoch": 1,
        "wait": 0,
        "cooldown_left": 1,
        "rate": 0.05,
        "step": 4,
        "warmup_done": False,
    }

    resumed = _callback(events=EventLog(list(first.events.events)), **settings)
    resumed.set_state(state)
    resumed.on_epoch_begin(4)
    _batches(resumed, 3)  # ... and resumed: warm-up picks up at step 5 of 6
    assert resumed.warmup_done
    assert _rate(resumed) == pytest.approx(0.05)
    _epochs(resumed, values[4:], start=4)
    assert _cut_epochs(resumed) == _cut_epochs(reference) == [3, 6, 9]
    assert resumed.get_state() == reference.get_state()


def test_an_incomplete_state_is_refused():
    with pytest.raises(ValueError, match=r"lacks \['best_epoch'"):
        _callback().set_state({"best": 1.0})


# --- a real fit ---------------------------------------------------------------------------


def test_fit_records_the_learning_rate_in_the_history():
    model = _model()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 2)).astype("float32")
    y = x @ np.array([[1.0], [-2.0]], dtype="float32")
    callback = ElasticLearningRate(
        monitor="val_loss", mode="min", base_rate=BASE, warmup_steps=3, patience=1, factor=0.5
    )
    history = model.fit(
        x,
        y,
        validation_data=(x, -y),  # gets worse as the model learns y: cut after each epoch
        epochs=4,
        batch_size=16,
        callbacks=[callback],
        verbose=0,
    ).history
    warmup, *cuts = callback.events.events
    assert (warmup["why"], warmup["epoch"], warmup["step"]) == (
        "linear warm-up over 3 steps finished",
        0,
        3,
    )
    assert [(cut["epoch"], cut["step"]) for cut in cuts] == [(1, 8), (2, 12), (3, 16)]
    # Each epoch logs the rate it trained with: the cut at the end of epoch 1 shows in 2.
    assert history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    json.dumps(callback.events.events)
