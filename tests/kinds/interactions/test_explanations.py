"""Recommendation explanations (kinds/interactions/explanations.py) on a model that
learnt walks through a cycle of items, where the next item follows from the last one
alone: that last item is what must explain the recommendation."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.models.sasrec import build_sasrec, next_item_labels
from aet.config import ModelConfig
from aet.kinds.interactions.explanations import HistoryExplainer, top_reasons

CYCLE = 12  # item ids 1..12; 0 pads, 13 is out of vocabulary
MAX_LENGTH = 6


def walks(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(left-aligned 0-padded histories, the item after each): i, i+1, ... mod CYCLE."""
    rng = np.random.default_rng(seed)
    histories = np.zeros((count, MAX_LENGTH), np.int64)
    targets = np.zeros(count, np.int64)
    for row in range(count):
        start, length = rng.integers(CYCLE), rng.integers(2, MAX_LENGTH + 1)
        items = (start + np.arange(length + 1)) % CYCLE + 1
        histories[row, :length], targets[row] = items[:-1], items[-1]
    return histories, targets


@pytest.fixture(scope="module")
def explainer() -> HistoryExplainer:
    tf.keras.utils.set_random_seed(0)
    model = build_sasrec(
        ModelConfig(embedding_dim=16, num_layers=1, num_heads=2, dropout=0.0),
        num_item_ids=CYCLE + 2,
        max_length=MAX_LENGTH,
        input_name="history_xf",
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    histories, targets = walks(600, seed=0)
    labels = next_item_labels(tf.constant(histories), tf.constant(targets))
    model.fit({"history_xf": histories}, labels, epochs=30, batch_size=64, verbose=0)
    return HistoryExplainer(model)


def test_the_last_item_explains_what_follows_it(explainer):
    histories, targets = walks(100, seed=1)
    history = tf.constant(histories)
    best = tf.argmax(explainer.model.item_scores(history), axis=-1)
    assert np.mean(best.numpy() == targets) > 0.9  # the walk was learnt
    contributions = explainer.contributions(history, best[:, tf.newaxis]).numpy()[:, 0]
    last = (histories > 0).sum(axis=1) - 1
    assert np.mean(contributions.argmax(axis=1) == last) > 0.8
    assert np.all(contributions[histories == 0] == 0)  # padding contributes nothing


def test_each_item_gets_its_own_reasons_and_only_those_that_raised_it(explainer):
    history = tf.constant([[3, 4, 5, 0, 0, 0]], tf.int64)
    items = tf.constant([[6, 1]], tf.int64)
    contributions = explainer.contributions(history, items)
    assert contributions.shape == (1, 2, MAX_LENGTH)
    assert not np.allclose(contributions[0, 0], contributions[0, 1])
    names = tf.constant([b"", *[f"film{i}".encode() for i in range(1, CYCLE + 1)], b""])
    because, weights = top_reasons(contributions, history, names, count=3)
    assert because.shape == (1, 2, 3)
    assert because.numpy()[0, 0, 0] == b"film5"  # 5 is the last item: 6 follows it
    for row_names, row_weights in zip(because.numpy()[0], weights.numpy()[0], strict=True):
        named = row_names != b""
        assert np.all(row_weights[named] > 0) and np.all(row_weights[~named] == 0)
        assert set(row_names[named]) <= {b"film3", b"film4", b"film5"}


def test_the_last_position_attends_over_the_real_history_only(explainer):
    histories, _ = walks(20, seed=2)
    attention = explainer.last_attention(tf.constant(histories)).numpy()
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    # Causal: the last real position sees nothing after it, padding included.
    assert np.all(attention[histories == 0] < 1e-6)
