"""The attention monitor reads real attention weights: uniform attention reads 1, one-hot
attention reads ~0, and both are flagged as events."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.attention import TransformerBlock
from aet.components.elastic.attention_monitor import (
    HYSTERESIS,
    AttentionMonitor,
    attention_entropies,
    normalised_entropy,
)
from aet.components.elastic.events import EventLog
from aet.components.models.ft_transformer import TabularInputs, build_ft_transformer
from aet.config import ModelConfig

TOKENS, WIDTH, HEADS = 5, 8, 2


def _model() -> tf.keras.Model:
    tokens = tf.keras.Input((TOKENS, WIDTH), name="tokens")
    x = TransformerBlock(WIDTH, HEADS, dropout=0.0, attention_dropout=0.0, name="block")(tokens)
    output = tf.keras.layers.Dense(1)(tf.keras.layers.GlobalAveragePooling1D()(x))
    return tf.keras.Model(tokens, output)


def _probe() -> tf.Tensor:
    return tf.constant(np.random.default_rng(0).normal(size=(4, TOKENS, WIDTH)), tf.float32)


def _set_attention(model: tf.keras.Model, query_scale: float, key_scale: float) -> None:
    attention = model.get_layer("block").attention  # Keras 2.15 keeps its projections private
    eye = np.eye(WIDTH, dtype=np.float32).reshape(WIDTH, HEADS, WIDTH // HEADS)
    attention._query_dense.set_weights([eye * query_scale, np.zeros((HEADS, WIDTH // HEADS))])
    attention._key_dense.set_weights([eye * key_scale, np.zeros((HEADS, WIDTH // HEADS))])


def test_normalised_entropy_of_known_distributions() -> None:
    uniform = tf.fill([1, 1, 3, 4], 0.25)
    one_hot = tf.one_hot([[[0, 1, 2]]], 4)
    assert normalised_entropy(uniform).numpy() == pytest.approx([1.0])
    assert normalised_entropy(one_hot).numpy() == pytest.approx([0.0], abs=1e-6)


def test_entropies_per_block_and_head_are_between_zero_and_one() -> None:
    entropies = attention_entropies(_model(), _probe())
    assert list(entropies) == ["block"]
    assert len(entropies["block"]) == HEADS
    assert all(0.0 <= value <= 1.0 for value in entropies["block"])


def test_heads_entering_and_leaving_an_alarm_are_events() -> None:
    model = _model()
    model.compile(optimizer="adam", loss="mse")
    log = EventLog()
    monitor = AttentionMonitor(_probe(), events=log)
    monitor.set_model(model)

    _set_attention(model, query_scale=0.0, key_scale=1.0)  # equal logits: uniform weights
    logs: dict = {}
    monitor.on_epoch_end(0, logs)
    assert logs["attention_entropy/block/head0"] == pytest.approx(1.0, abs=1e-5)
    assert [e["what"] for e in log.events] == ["block/head0", "block/head1"]
    assert all(e["why"].startswith("attention is near uniform") for e in log.events)

    monitor.on_epoch_end(1, {})  # still uniform: no new event
    assert len(log.events) == 2

    _set_attention(model, query_scale=100.0, key_scale=100.0)  # each token sees itself only
    monitor.on_epoch_end(2, logs)
    assert logs["attention_entropy/block/head1"] < 0.05
    collapsed = log.events[2:]
    assert {e["what"] for e in collapsed} == {"block/head0", "block/head1"}
    assert all("collapsed" in e["why"] and e["epoch"] == 2 for e in collapsed)
    assert all(e["callback"] == "AttentionMonitor" and e["to"] < 0.05 for e in collapsed)

    _set_attention(model, query_scale=1.0, key_scale=1.0)
    monitor.on_epoch_end(3, logs)
    recovered = log.events[4:]
    assert all("back in range" in e["why"] for e in recovered) and len(recovered) == 2


def test_reads_every_block_of_a_dict_input_ft_transformer() -> None:
    inputs = TabularInputs(numeric=["a", "b"], categorical={"c": 4})
    config = ModelConfig(embedding_dim=8, num_layers=2, num_heads=2)
    model = build_ft_transformer(inputs, config, num_classes=2)
    probe = {
        "a": tf.constant([[0.1], [0.5]]),
        "b": tf.constant([[1.0], [-1.0]]),
        "c": tf.constant([[1], [3]], tf.int64),
    }
    entropies = attention_entropies(model, probe)
    assert list(entropies) == ["transformer_0", "transformer_1"]
    assert all(len(heads) == 2 and all(0 < h <= 1 for h in heads) for heads in entropies.values())


def test_history_carries_the_entropies_during_fit() -> None:
    model = _model()
    model.compile(optimizer="adam", loss="mse")
    probe = _probe()
    history = model.fit(
        probe,
        tf.zeros([4, 1]),
        epochs=2,
        verbose=0,
        callbacks=[AttentionMonitor(probe, events=EventLog())],
    )
    assert len(history.history["attention_entropy/block/head0"]) == 2


def test_a_head_hovering_at_a_bound_is_one_event() -> None:
    model = _model()
    model.compile(optimizer="adam", loss="mse")
    log = EventLog()
    monitor = AttentionMonitor(_probe(), events=log, collapse_below=0.05, uniform_above=0.5)
    monitor.set_model(model)
    _set_attention(model, query_scale=0.0, key_scale=1.0)
    monitor.on_epoch_end(0, {})
    raised = len(log.events)
    entropies = attention_entropies(model, _probe())["block"]
    # Just below the bound, inside the hysteresis margin: the alarm holds, no new event.
    monitor.uniform_above = max(entropies) + HYSTERESIS / 2
    monitor.on_epoch_end(1, {})
    assert raised == HEADS and len(log.events) == raised
