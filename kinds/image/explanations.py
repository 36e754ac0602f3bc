"""The `explain` signature of an image model: its answer and the Grad-CAM map of the
class it answered (components/heat_maps/grad_cam.py), computed by the exported graph
itself, so a client gets the map of exactly the probabilities it was served.

The map is the feature map's low-resolution grid ([batch, h', w'] in [0, 1]); a client
draws it over the image it sent (`aet predict --explain` writes the PNG overlay), so
the signature does not spend time encoding an image nobody asked for.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from aet.components.export.signatures import served_answer
from aet.components.heat_maps.grad_cam import GradCam
from aet.config import DomainConfig


def explain_signature(
    model: tf.keras.Model,
    model_inputs: Callable[[tf.Tensor], dict[str, tf.Tensor]],
    served: Callable[[tf.Tensor], tf.Tensor],
    config: DomainConfig,
):
    """`explain`: serialized raw examples -> the served probabilities, the class with
    the highest one, and that class's Grad-CAM map."""
    cam = GradCam(model)
    classes = tf.constant(config.features.label.classes)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def explain(serialized: tf.Tensor) -> dict:
        inputs = model_inputs(serialized)
        probabilities = served(model(inputs, training=False))
        explained = tf.argmax(probabilities, axis=-1)
        return {
            **served_answer(probabilities, config),
            "explained_class": tf.gather(classes, explained),
            "heat_map": cam.maps(inputs, explained),
        }

    return explain
