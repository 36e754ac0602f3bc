"""The heat maps of an image `explain` answer drawn over the images sent, as
`aet predict --explain` writes them: one PNG per image, named after it, with the class
explained and its probability in a caption (the same drawing as the run's HeatMaps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from aet.components.heat_maps.grad_cam import captioned, decoded, overlay
from aet.config import DomainConfig
from aet.kinds.classifier import explained_probability
from aet.report.model_card import MIN_AVERAGED  # fewer images' average could show one scan
from aet.serving.requests import PredictionInput


def write_overlays(
    config: DomainConfig, request: PredictionInput, outputs: dict, folder: Path
) -> list[dict]:
    """One record per image: the class explained, its probability, the heat map's grid
    and the overlay file written under `folder` (NN-<image name>.png)."""
    folder.mkdir(parents=True, exist_ok=True)
    image = config.features.image
    probabilities = explained_probability(config, outputs)
    records = []
    for index, (source, serialized) in enumerate(zip(request.ids, request.examples, strict=True)):
        example = tf.train.Example.FromString(serialized)
        encoded = example.features.feature[image.name].bytes_list.value[0]
        pixels = np.asarray(decoded(encoded, image.channels))
        explained = outputs["explained_class"][index].decode()
        probability = float(probabilities[index])
        heat = outputs["heat_map"][index]
        path = folder / f"{index:02d}-{Path(str(source)).stem}.png"
        captioned(overlay(pixels, heat), f"P({explained}) = {probability:.3f}").save(path)
        records.append(
            {
                "explained_class": explained,
                "probability": round(probability, 4),
                "heat_map": np.round(heat.astype(float), 3).tolist(),
                "heat_map_file": str(path),
            }
        )
    return records


def _pixels(encoded: bytes, config: DomainConfig) -> np.ndarray:
    image = config.features.image
    resized = decoded(encoded, image.channels).resize((image.width, image.height))
    return np.asarray(resized, dtype=np.float32)


def class_average_maps(
    config: DomainConfig, records: list[bytes], outputs: dict, folder: str
) -> dict:
    """The global view of an image model's `explain` answers: per true class, the mean
    of its images' heat maps (each the map of the class the model answered), drawn over
    the class's mean image as `class-<label>.png` where at least MIN_AVERAGED images
    make it."""
    image, label = config.features.image, config.features.label
    examples = [tf.train.Example.FromString(serialized).features.feature for serialized in records]
    by_class: dict[str, list[int]] = {}
    for index, feature in enumerate(examples):
        true = feature[label.name].bytes_list.value[0].decode()
        by_class.setdefault(true, []).append(index)
    classes = []
    for name in label.classes:
        members = by_class.get(name, [])
        if not members:
            continue
        mean_map = outputs["heat_map"][members].mean(axis=0)
        entry = {
            "label": name,
            "examples": len(members),
            "mean_heat_map": np.round(mean_map.astype(float), 3).tolist(),
        }
        if len(members) >= MIN_AVERAGED:
            encoded = [examples[i][image.name].bytes_list.value[0] for i in members]
            mean_image = np.mean([_pixels(data, config) for data in encoded], axis=0)
            drawn = overlay(np.round(mean_image).astype(np.uint8), mean_map)
            entry["file"] = f"class-{name}.png"
            with tf.io.gfile.GFile(f"{folder}/{entry['file']}", "wb") as handle:
                captioned(drawn, f"mean of {len(members)} {name}").save(handle, format="PNG")
        classes.append(entry)
    return {"method": "Grad-CAM", "classes": classes}
