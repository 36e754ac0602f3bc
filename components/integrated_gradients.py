"""Integrated gradients (Sundararajan et al., 2017, "Axiomatic Attribution for Deep
Networks"): the attribution of input i is (x_i - x'_i) times the mean gradient of the
score along the straight path from a baseline x' to x. Its guarantee is completeness:
the attributions sum to score(x) - score(x'), up to the error of the path integral's
Riemann sum, which the tests and the benchmark measure.

The sum's `steps` points are spaced quadratically, alpha = u^2 for midpoints u, and
weighted by d(alpha)/du: denser near the baseline, where a pre-norm transformer changes
fastest (a token at the baseline can be the zero vector, which LayerNorm maps to a
point its neighbours are far from). On a penguins model whose features are all numbers
this took the mean gap at 64 steps from 0.114 to 0.008; on German Credit it kept it at
0.004 and halved the worst (benchmarks/results/explanation_faithfulness.md). Gauss-
Legendre nodes did no better than midpoints: a ReLU makes the gradient a step function
of the path, which no higher-order rule integrates faster.

None of the libraries this project is built on computes it (TF, Keras, TFMA), so it
is written here, in one batched pass that can be traced into a serving signature: every
step of every example goes through the model together, which keeps a one-example
explanation to one model call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf


def integrated_gradients(
    score: Callable[[list[tf.Tensor]], tf.Tensor],
    inputs: Sequence[tf.Tensor],
    baselines: Sequence[tf.Tensor],
    steps: int,
) -> list[tf.Tensor]:
    """Per input tensor ([batch, ...] each), its attributions ([batch], summed over
    the tensor's other dimensions) for `score`, a function of the list of tensors that
    returns one number per example ([batch])."""
    batch = tf.shape(inputs[0])[0]
    midpoints = (tf.range(steps, dtype=tf.float32) + 0.5) / steps
    alphas = tf.square(midpoints)
    step_weights = 2.0 * midpoints / steps  # d(alpha) for each step
    deltas = [x - base for x, base in zip(inputs, baselines, strict=True)]

    def along_path(base: tf.Tensor, delta: tf.Tensor) -> tf.Tensor:
        """[steps * batch, ...]: step-major, so step s of example b is row s*batch + b."""
        shape = tf.concat([[-1], tf.shape(delta)[1:]], axis=0)
        alpha = tf.reshape(alphas, [steps, 1] + [1] * (len(delta.shape) - 1))
        return tf.reshape(base[tf.newaxis] + alpha * delta[tf.newaxis], shape)

    path = [along_path(base, delta) for base, delta in zip(baselines, deltas, strict=True)]
    with tf.GradientTape() as tape:
        tape.watch(path)
        total = tf.reduce_sum(score(path))
    gradients = tape.gradient(total, path)
    attributions = []
    for gradient, delta in zip(gradients, deltas, strict=True):
        shape = tf.concat([[steps, batch], tf.shape(delta)[1:]], axis=0)
        weights = tf.reshape(step_weights, [steps] + [1] * len(delta.shape))
        path_gradient = tf.reduce_sum(tf.reshape(gradient, shape) * weights, axis=0)
        per_example = tf.reshape(path_gradient * delta, [batch, -1])
        attributions.append(tf.reduce_sum(per_example, axis=1))
    return attributions
