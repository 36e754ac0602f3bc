"""The sequential recommender: next-item labels, masking, causality, learning a simple
sequence with sampled softmax, and a Keras round trip (TFMA reloads it with Keras)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.evaluation import CUSTOM_OBJECTS
from aet.components.models.sasrec import build_sasrec, mask_items, next_item_labels
from aet.components.ranking_metrics import MASKED_SCORE
from aet.config import ModelConfig

SMALL = ModelConfig(
    architecture="sasrec", embedding_dim=16, num_layers=1, num_heads=2, dropout=0.0,
    attention_dropout=0.0,
)  # fmt: skip


def test_next_item_labels_shift_the_history_and_end_with_the_target() -> None:
    history = tf.constant([[3, 4, 5, 0, 0], [7, 0, 0, 0, 0], [1, 2, 3, 4, 5]], tf.int64)
    labels = next_item_labels(history, tf.constant([6, 8, 9], tf.int64)).numpy()
    assert labels.tolist() == [[4, 5, 6, 0, 0], [8, 0, 0, 0, 0], [2, 3, 4, 5, 9]]


def test_an_empty_history_has_nothing_to_learn() -> None:
    labels = next_item_labels(tf.zeros([1, 4], tf.int64), tf.constant([5], tf.int64))
    assert labels.numpy().tolist() == [[0, 0, 0, 0]]


def test_mask_items_hides_padding_unknown_and_the_given_items() -> None:
    scores = tf.ones([2, 6])
    masked = mask_items(scores, tf.constant([[2, 3, 0], [4, 0, 0]])).numpy()
    assert masked[0].tolist() == [MASKED_SCORE, 1, MASKED_SCORE, MASKED_SCORE, 1, MASKED_SCORE]
    assert masked[1].tolist() == [MASKED_SCORE, 1, 1, 1, MASKED_SCORE, MASKED_SCORE]
    assert mask_items(scores).numpy()[:, 1:5].min() == 1  # nothing else without item ids


def test_a_position_never_sees_later_items() -> None:
    tf.keras.utils.set_random_seed(0)
    model = build_sasrec(SMALL, num_item_ids=12, max_length=6, input_name="h")
    one = model({"h": tf.constant([[3, 4, 5, 6, 0, 0]])}).numpy()
    other = model({"h": tf.constant([[3, 4, 9, 10, 7, 0]])}).numpy()
    np.testing.assert_allclose(one[:, :2], other[:, :2], atol=1e-5)
    assert np.abs(one[:, 2:4] - other[:, 2:4]).max() > 1e-3


def _walks(users: int, items: int, length: int, rng: np.random.Generator) -> np.ndarray:
    starts = rng.integers(1, items + 1, size=users)
    return (starts[:, None] - 1 + np.arange(length)[None, :]) % items + 1


@pytest.mark.parametrize("sampled_softmax", [0, 6])
def test_it_learns_which_item_comes_next(sampled_softmax: int) -> None:
    """Walks through 20 items in order: after item i comes i + 1 (wrapping round)."""
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    walks = _walks(256, 20, 9, rng)
    history, target = walks[:, :8], walks[:, 8]
    x = {"h": history}
    y = next_item_labels(tf.constant(history), tf.constant(target)).numpy()
    model = build_sasrec(
        SMALL, num_item_ids=22, max_length=8, input_name="h", sampled_softmax=sampled_softmax
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    assert logs["hit_rate"] > 0.95 and logs["ndcg"] > 0.8
    scores = mask_items(model.item_scores(tf.constant([[4, 5, 6, 0, 0, 0, 0, 0]]))).numpy()
    assert scores.argmax() == 7


def test_keras_reloads_it_with_its_settings(tmp_path) -> None:
    model = build_sasrec(SMALL, num_item_ids=12, max_length=6, input_name="h", sampled_softmax=4)
    model.compile(optimizer="adam")
    history = tf.constant([[3, 4, 5, 0, 0, 0]])
    model.save(tmp_path / "model", save_format="tf")
    reloaded = tf.keras.models.load_model(tmp_path / "model", custom_objects=CUSTOM_OBJECTS)
    assert type(reloaded) is type(model) and reloaded.sampled_softmax == 4
    np.testing.assert_allclose(reloaded.item_scores(history), model.item_scores(history), atol=1e-6)


def test_a_target_first_seen_after_training_is_a_miss_with_a_finite_loss() -> None:
    tf.keras.utils.set_random_seed(0)
    model = build_sasrec(SMALL, num_item_ids=12, max_length=4, input_name="h")
    model.compile(optimizer="adam")
    history = np.array([[3, 4, 0, 0], [5, 6, 7, 0]])
    unknown = 11  # the out-of-vocabulary id, never recommended
    y = next_item_labels(tf.constant(history), tf.constant([5, unknown])).numpy()
    logs = model.evaluate({"h": history}, y, verbose=0, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] < 10
    assert logs["hit_rate"] <= 0.5  # the unknown target can never be hit
