"""A TFX component that shows where an image model looked: Grad-CAM heat maps over a
few held-out images, saved as PNG overlays with an index of what each one shows.

It runs after the Trainer, beside the Evaluator, on the raw held-out examples: each is
transformed by the frozen Transform graph, scored by the exported serving signature
(so the probability shown is the one a client gets) and explained by Grad-CAM on the
trained Keras model's last convolutional feature map.
"""

# No `from __future__ import annotations`: TFX reads the component's type hints at runtime.
import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts
from tfx.utils import path_utils

from aet.components.evaluation import load_keras_model
from aet.components.heat_maps.grad_cam import captioned, decoded, grad_cam, overlay
from aet.components.split_records import first_records
from aet.config import DomainConfig

INDEX_FILE = "heat_maps.json"


class HeatMapImages(artifact.Artifact):
    """PNG overlays of Grad-CAM heat maps, and heat_maps.json describing each."""

    TYPE_NAME = "aet.HeatMapImages"  # <namespace>.<Title>, as Kubeflow v2 requires


def write_heat_maps(
    model_dir: str, transform_dir: str, records: list[bytes], config: DomainConfig, output: str
) -> list[dict]:
    """One `NN-<label>.png` overlay per serialized raw example in `records`; returns
    (and writes to heat_maps.json) the file, source, label and served probabilities."""
    image, label = config.features.image, config.features.label
    tf_transform_output = tft.TFTransformOutput(transform_dir)
    raw = tf.io.parse_example(records, tf_transform_output.raw_feature_spec())
    transformed = tf_transform_output.transform_features_layer()(raw)
    keras_model = load_keras_model(model_dir)
    inputs = {key: transformed[key] for key in keras_model.input}
    heat = grad_cam(keras_model, inputs)
    served = tf.saved_model.load(model_dir).signatures["serve_examples"](
        examples=tf.constant(records)
    )
    scores = next(iter(served.values())).numpy()
    index = []
    for position, record_heat in enumerate(heat):
        pixels = np.asarray(decoded(raw[image.name][position][0].numpy(), image.channels))
        true_label = raw[label.name][position][0].numpy().decode()
        name = f"{position:02d}-{true_label}.png"
        probabilities = (
            {label.classes[1]: float(scores[position])}
            if config.is_binary
            else dict(zip(label.classes, map(float, scores[position]), strict=True))
        )
        top = max(probabilities, key=probabilities.get)
        caption = f"true: {true_label}  P({top}) = {probabilities[top]:.3f}"
        with tf.io.gfile.GFile(os.path.join(output, name), "wb") as png:
            captioned(overlay(pixels, record_heat), caption).save(png, format="PNG")
        index.append(
            {
                "file": name,
                "source": raw["source"][position][0].numpy().decode() if "source" in raw else None,
                "label": true_label,
                "probability": probabilities,
            }
        )
    with tf.io.gfile.GFile(os.path.join(output, INDEX_FILE), "w") as handle:
        json.dump(index, handle, indent=2)
    return index


@component
def HeatMaps(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    heat_maps: OutputArtifact[HeatMapImages],
    domain_config: Parameter[str],
    split: Parameter[str],
    count: Parameter[int],
) -> None:
    config = DomainConfig.parse_raw(domain_config)
    write_heat_maps(
        path_utils.serving_model_path(model.uri),
        transform_graph.uri,
        first_records(examples.uri, split, count),
        config,
        heat_maps.uri,
    )
