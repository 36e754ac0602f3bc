"""Wide and deep for tabular data: logistic regression's linear logits beside an
FT-Transformer that learns a residual on them, selectable as `model.architecture:
wide_and_deep`. A tabular model should never end below the linear one it contains.

- The wide path is logistic regression: one weight per z-scored number, and per
  category a linear score of its embedding (as free as one weight per category, and it
  reads the same `<name>_emb` token as the transformer, so the explanations'
  integrated gradients and the warm start's row remapping see one representation per
  feature).
- The deep path is the FT-Transformer's CLS state and a head of its own, scaled by a
  gate that starts at zero (ResidualGate): the first model is exactly the linear one,
  and the attention path adds only what the gradient finds the linear part misses.
  Its dropout and the optimizer's weight decay regularise it like the FT-Transformer.
- `start_from_linear` sets the wide path to a fitted logistic regression before
  training (the Trainer does, from the training split): a few hundred Adam steps from a
  random start leave a linear model well short of its optimum (on German Credit the
  pipeline's own logistic_regression scored test AUC 0.724 where scikit-learn's
  converged fit scored 0.823), so training starts where the linear model ends.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from aet.components.models.ft_transformer import TabularInputs, encoded_features, input_layers
from aet.components.models.logistic_regression import class_scores, classifier_output
from aet.config import ModelConfig

WIDE_LOGITS = "wide_logits"
DEEP_GATE = "deep_gate"


@tf.keras.utils.register_keras_serializable(package="aet")
class ResidualGate(tf.keras.layers.Layer):
    """Multiplies its input by one learnt scalar that starts at zero (ReZero: Bachlechner
    et al., 2020), so a residual path starts silent and grows as it helps."""

    def build(self, input_shape: tf.TensorShape) -> None:
        self.gate = self.add_weight(name="gate", shape=(), initializer="zeros")

    def call(self, values: tf.Tensor) -> tf.Tensor:
        return values * self.gate


def build_wide_and_deep(
    inputs: TabularInputs,
    config: ModelConfig,
    num_classes: int,
    input_name: Callable[[str], str] = str,
) -> tf.keras.Model:
    """The (uncompiled) wide-and-deep classifier; its output is named like the other
    classifiers': `probability` (binary) or `probabilities`."""
    units = class_scores(num_classes)
    model_inputs, numeric, categorical = input_layers(inputs, input_name)
    head, embedded = encoded_features(inputs, config, numeric, categorical)
    wide = []
    if numeric:
        values = numeric[0] if len(numeric) == 1 else tf.keras.layers.Concatenate()(numeric)
        wide.append(tf.keras.layers.Dense(units, name="numeric_weights")(values))
    for name, token in embedded.items():
        flat = tf.keras.layers.Flatten(name=f"{name}_token")(token)
        wide.append(tf.keras.layers.Dense(units, use_bias=False, name=f"{name}_weights")(flat))
    wide_logits = wide[0] if len(wide) == 1 else tf.keras.layers.Add(name=WIDE_LOGITS)(wide)
    deep_logits = tf.keras.layers.Dense(units, name="deep_logits")(head)
    residual = ResidualGate(name=DEEP_GATE)(deep_logits)
    logits = tf.keras.layers.Add(name="logits")([wide_logits, residual])
    return tf.keras.Model(model_inputs, classifier_output(logits), name="wide_and_deep")


def start_from_linear(
    model: tf.keras.Model,
    inputs: TabularInputs,
    coefficients: np.ndarray,
    intercept: np.ndarray,
) -> None:
    """Sets the wide path to a linear model over the numbers then each category one-hot
    (`coefficients` [1 or classes, features], kinds/tabular/baselines.feature_matrix's
    columns): the numbers' weights directly, and each category's weights into the first
    dimensions of its embedding, which its wide weights then read alone."""
    units = coefficients.shape[0]
    numeric = len(inputs.numeric)
    if numeric:
        model.get_layer("numeric_weights").set_weights([coefficients[:, :numeric].T, intercept])
    start = numeric
    for index, (name, size) in enumerate(inputs.categorical.items()):
        embedding = model.get_layer(f"{name}_emb")
        (table,) = embedding.get_weights()
        if table.shape[1] < units:
            raise ValueError(f"{name}: an embedding of {table.shape[1]} cannot hold {units} scores")
        table[:, :units] = coefficients[:, start : start + size].T
        if not numeric and index == 0:  # no numbers' bias to hold it: every row adds it
            table[:, :units] += intercept
        embedding.set_weights([table])
        reads = np.zeros((table.shape[1], units), np.float32)
        reads[:units, :units] = np.eye(units)
        model.get_layer(f"{name}_weights").set_weights([reads])
        start += size
