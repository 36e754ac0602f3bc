"""Snapshots of a model's weights that stay valid while layers freeze and unfreeze.

Keras lists a layer's weights trainable ones first, so freezing a layer that holds
trainable and non-trainable variables (a dropout rate, batch-norm statistics) reorders
`model.get_weights()`: weights taken in one unfreezing stage and set back in another no
longer line up (a warm-started recommender was offered a scalar for a (64,) bias when
early stopping restored its best epoch). Inside `in_stable_order` every layer counts as
trainable, so the list is always in the fully unfrozen order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import tensorflow as tf


@contextlib.contextmanager
def in_stable_order(model: tf.keras.Model) -> Iterator[None]:
    """Every layer trainable for the duration (no step runs in between), then each
    layer's own setting back, parents before their sub-layers."""
    flags = [
        (layer, layer.trainable)
        for layer in model.submodules
        if isinstance(layer, tf.keras.layers.Layer)
    ]
    own = model.trainable
    model.trainable = True
    try:
        yield
    finally:
        model.trainable = own
        for layer, trainable in flags:
            layer.trainable = trainable
