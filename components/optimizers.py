"""Optimizers whose regularisation can change while a model trains."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_addons as tfa


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


def optimizer_variables(optimizer: tf.keras.optimizers.Optimizer) -> list[tf.Variable]:
    """Every variable of the optimizer's state, over its parts (`optimizer_parts`); a
    legacy optimizer such as MultiOptimizer has `variables()` as a method."""
    found: list[tf.Variable] = []
    for part in optimizer_parts(optimizer).values():
        variables = part.variables
        found += variables() if callable(variables) else variables
    return found


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


@tf.keras.utils.register_keras_serializable(package="aet")
class LayerwiseOptimizer(tfa.optimizers.MultiOptimizer):
    """tensorflow-addons' MultiOptimizer (one optimizer per group of layers, each with
    its own rate) that also answers to `learning_rate` and `weight_decay` like a single
    optimizer, so the elastic callbacks drive it unchanged.

    The first group is the reference: `learning_rate` reads its rate, and setting it
    moves every group's rate in proportion, keeping the ratios the groups were built
    with (earlier layers slower). The groups share one weight-decay variable when they
    are AdamWVariableDecay.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        optimizers = [spec["optimizer"] for spec in self.optimizer_specs]
        reference = float(optimizers[0].learning_rate.numpy())
        self._rate_multipliers = [float(o.learning_rate.numpy()) / reference for o in optimizers]
        decay = getattr(optimizers[0], "weight_decay", None)
        if isinstance(decay, tf.Variable):
            for optimizer in optimizers[1:]:
                optimizer.weight_decay = decay

    @property
    def learning_rate(self) -> tf.Variable:
        return self.optimizer_specs[0]["optimizer"].learning_rate

    @learning_rate.setter
    def learning_rate(self, rate: float) -> None:
        for spec, multiplier in zip(self.optimizer_specs, self._rate_multipliers, strict=True):
            spec["optimizer"].learning_rate = float(rate) * multiplier

    @property
    def weight_decay(self) -> tf.Variable | float | None:
        return getattr(self.optimizer_specs[0]["optimizer"], "weight_decay", None)


def layerwise_optimizer(
    groups: list[list[tf.keras.layers.Layer]],
    learning_rate: float,
    weight_decay: float,
    rate_decay: float,
) -> LayerwiseOptimizer:
    """One AdamWVariableDecay per group, group d (0 = head) at learning_rate * rate_decay**d.
    tensorflow-addons' MultiOptimizer tells variables by name, so names must be unique."""
    names = [weight.name for group in groups for layer in group for weight in layer.weights]
    shared = sorted({name for name in names if names.count(name) > 1})
    if shared:
        raise ValueError(
            f"variables share a name ({', '.join(shared)}), so the layer groups' optimizers "
            "cannot tell them apart: build each sub-layer in its own tf.name_scope"
        )
    return LayerwiseOptimizer(
        [
            (
                AdamWVariableDecay(
                    learning_rate=learning_rate * rate_decay**depth, weight_decay=weight_decay
                ),
                group,
            )
            for depth, group in enumerate(groups)
        ]
    )
