"""`components.integrated_gradients`: attributions that add up to the change of the
score, one per input tensor, on functions whose integrals are known."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.components.integrated_gradients import integrated_gradients


def test_a_linear_score_is_split_exactly_between_its_inputs() -> None:
    weights = tf.constant([[2.0, -1.0]])
    x, embedded = tf.constant([[1.0, 3.0]]), tf.constant([[[0.5, 0.5, 1.0]]])
    baseline, embedded_baseline = tf.zeros_like(x), tf.ones_like(embedded)

    def score(path: list[tf.Tensor]) -> tf.Tensor:
        return tf.reduce_sum(path[0] * weights, axis=1) + tf.reduce_sum(path[1], axis=[1, 2])

    found = integrated_gradients(score, [x, embedded], [baseline, embedded_baseline], steps=8)
    # (x - x') * w summed, and the embedding's own change: -0.5 - 0.5 + 0.
    np.testing.assert_allclose([value.numpy()[0] for value in found], [-1.0, -1.0], atol=1e-5)


def test_a_score_that_jumps_just_past_the_baseline_is_still_integrated() -> None:
    """LayerNorm of a token that is zero at the baseline changes within ~1e-3 of it;
    tanh(300 x) does too, and midpoints evenly spaced miss nearly all of it."""
    x = tf.constant([[1.0]])

    def score(path: list[tf.Tensor]) -> tf.Tensor:
        return tf.tanh(300.0 * path[0][:, 0])

    (found,) = integrated_gradients(score, [x], [tf.zeros_like(x)], steps=64)
    assert abs(float(found[0]) - float(np.tanh(300.0))) < 0.01
