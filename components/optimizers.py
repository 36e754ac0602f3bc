"""Optimizers whose regularisation can change while a model trains."""

from __future__ import annotations

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="aet")
class AdamWVariableDecay(tf.keras.optimizers.AdamW):
    """AdamW whose weight decay is a non-trainable variable.

    Keras' AdamW keeps `weight_decay` a Python float that the traced training step
    captures once; as a variable it is read at every step, so ElasticRegularisation can
    change it between epochs without recompiling, and it is checkpointed with the
    optimizer. `get_config` reports its current value as a float.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.weight_decay = tf.Variable(
            float(self.weight_decay), trainable=False, name="weight_decay", dtype=tf.float32
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "weight_decay": float(self.weight_decay.numpy())}


def optimizer_parts(optimizer: tf.keras.optimizers.Optimizer) -> dict[str, object]:
    """The objects whose variables make up the optimizer's state, by checkpoint name:
    the optimizer itself and, for a tensorflow-addons MultiOptimizer (which does not
    track them), each wrapped optimizer."""
    parts: dict[str, object] = {"optimizer": optimizer}
    for index, spec in enumerate(getattr(optimizer, "optimizer_specs", [])):
        parts[f"optimizer_{index}"] = spec["optimizer"]
    return parts


def build_optimizer(model: tf.keras.Model) -> None:
    """Create the optimizer's slot variables now rather than at the first step, so a
    checkpoint can be restored into them before training starts."""
    optimizer = model.optimizer
    specs = getattr(optimizer, "optimizer_specs", None)
    if specs is None:
        _build(optimizer, model.trainable_variables)
        return
    by_name = {variable.name: variable for variable in model.weights}
    for spec in specs:
        _build(spec["optimizer"], [by_name[name] for name in spec["weights"]])


def _build(optimizer: tf.keras.optimizers.Optimizer, variables: list[tf.Variable]) -> None:
    """Keras 2.11+ optimizers build once for all variables; legacy ones make their slots
    lazily per variable and need nothing here."""
    if isinstance(optimizer, tf.keras.optimizers.Optimizer) and not getattr(
        optimizer, "_built", False
    ):
        optimizer.build(variables)
