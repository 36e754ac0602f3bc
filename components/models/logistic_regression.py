"""Logistic regression on the transformed tabular features: the plain baseline a
tabular architecture has to beat, selectable as `model.architecture:
logistic_regression`.

Each z-scored number gets one weight, each category its own weight (an embedding of
width one per class score, which is a one-hot encoding times a weight matrix without
building the one-hot), and the scores are summed with a bias: softmax regression for
multi-class labels, a sigmoid for binary ones. L2 regularisation comes from the
optimizer's weight decay, as for every other architecture.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from aet.components.models.ft_transformer import TabularInputs, input_layers


def linear_logits(
    inputs: TabularInputs, units: int, numeric: list[tf.Tensor], categorical: dict[str, tf.Tensor]
) -> tf.Tensor:
    """One weight per number and per category for each of `units` scores, summed: the
    logits of logistic regression."""
    scores = []
    if numeric:
        stacked = (
            numeric[0]
            if len(numeric) == 1
            else tf.keras.layers.Concatenate(name="numeric_values")(numeric)
        )
        scores.append(tf.keras.layers.Dense(units, name="numeric_weights")(stacked))
    for name, vocab_size in inputs.categorical.items():
        weights = tf.keras.layers.Embedding(vocab_size, units, name=f"{name}_emb")(
            categorical[name]
        )
        scores.append(tf.keras.layers.Flatten(name=f"{name}_weights")(weights))
    return scores[0] if len(scores) == 1 else tf.keras.layers.Add(name="logits")(scores)


def class_scores(num_classes: int) -> int:
    """Logits a classifier of `num_classes` needs: one for a binary label."""
    return 1 if num_classes == 2 else num_classes


def classifier_output(logits: tf.Tensor) -> tf.Tensor:
    """Probabilities named as every classifier's output: `probability` (one logit,
    sigmoid) or `probabilities` (softmax)."""
    if logits.shape[-1] == 1:
        return tf.keras.layers.Activation("sigmoid", name="probability")(logits)
    return tf.keras.layers.Activation("softmax", name="probabilities")(logits)


def build_logistic_regression(
    inputs: TabularInputs, num_classes: int, input_name: Callable[[str], str] = str
) -> tf.keras.Model:
    """The (uncompiled) linear classifier over `inputs`; its output is named like the
    other classifiers': `probability` (binary) or `probabilities`."""
    model_inputs, numeric, categorical = input_layers(inputs, input_name)
    logits = linear_logits(inputs, class_scores(num_classes), numeric, categorical)
    return tf.keras.Model(model_inputs, classifier_output(logits), name="logistic_regression")
