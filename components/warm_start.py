"""Warm start: a freshly built model takes the weights of the served (or last blessed)
model.

Layers are matched by name (every weighted layer of the domain models is named from
the config). An embedding indexed by a vocabulary (a categorical feature's, a
recommender's items) is remapped row by row through the two vocabularies, because
Transform orders a vocabulary by frequency and new data can reorder it or add values:
a value both vocabularies know keeps its trained row, a new value keeps its fresh
initialisation. Any other layer whose shapes changed (the config
changed the model) starts fresh and is reported.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from aet.components.evaluation import CUSTOM_OBJECTS


@dataclass
class WarmStartReport:
    copied: list[str] = field(default_factory=list)
    remapped: dict[str, int] = field(default_factory=dict)  # layer -> rows carried over
    fresh: list[str] = field(default_factory=list)

    def describe(self) -> str:
        remapped = ", ".join(f"{name} ({rows} rows)" for name, rows in self.remapped.items())
        return (
            f"{len(self.copied)} layers copied, {len(self.remapped)} embeddings remapped by "
            f"vocabulary{': ' + remapped if remapped else ''}, "
            f"{len(self.fresh)} started fresh{': ' + ', '.join(self.fresh) if self.fresh else ''}"
        )


class EmbeddingRows(NamedTuple):
    """How an embedding's rows follow a vocabulary: the vocabulary file it indexes now,
    and the rows before the vocabulary's first (a recommender's padding id 0)."""

    vocabulary: str
    leading: int = 0


def read_vocabulary(path: str) -> list[str]:
    with tf.io.gfile.GFile(path) as source:
        return [line.rstrip("\n") for line in source]


def remap_rows(
    old: np.ndarray,
    new: np.ndarray,
    old_tokens: list[str],
    new_tokens: list[str],
    leading: int = 0,
) -> tuple[np.ndarray, int]:
    """`new` with each row of a token both vocabularies know taken from `old`; the
    `leading` rows before the vocabulary (padding) are carried over, and the
    out-of-vocabulary rows after it keep their trained values when the number of OOV
    buckets is unchanged."""
    result = new.copy()
    result[:leading] = old[:leading]
    old_index = {token: i for i, token in enumerate(old_tokens)}
    carried = leading
    for i, token in enumerate(new_tokens):
        if token in old_index:
            result[leading + i] = old[leading + old_index[token]]
            carried += 1
    old_end, new_end = leading + len(old_tokens), leading + len(new_tokens)
    old_oov, new_oov = len(old) - old_end, len(new) - new_end
    if old_oov == new_oov and new_oov > 0:
        result[new_end:] = old[old_end:]
        carried += new_oov
    return result, carried


def warm_start(
    model: tf.keras.Model,
    base_model_dir: str,
    vocabularies: dict[str, EmbeddingRows],
) -> WarmStartReport:
    """Copy the base model's weights into `model`. `vocabularies` maps an embedding
    layer's name to the vocabulary its rows follow now (the data kind's
    `embedding_vocabularies`); the base model's own copy is read from its SavedModel
    assets."""
    base = tf.keras.models.load_model(base_model_dir, custom_objects=CUSTOM_OBJECTS, compile=False)
    base_layers = {layer.name: layer for layer in base.layers}
    report = WarmStartReport()
    for layer in model.layers:
        if not layer.weights:
            continue
        source = base_layers.get(layer.name)
        if source is None or type(source) is not type(layer):
            report.fresh.append(layer.name)
            continue
        if layer.name in vocabularies:
            vocabulary, leading = vocabularies[layer.name]
            old_vocabulary = os.path.join(base_model_dir, "assets", os.path.basename(vocabulary))
            if not tf.io.gfile.exists(old_vocabulary):  # rows would mean other values
                report.fresh.append(layer.name)
                continue
            (old,), (new,) = source.get_weights(), layer.get_weights()
            rows, carried = remap_rows(
                old, new, read_vocabulary(old_vocabulary), read_vocabulary(vocabulary), leading
            )
            layer.set_weights([rows])
            report.remapped[layer.name] = carried
            continue
        shapes = [w.shape for w in layer.get_weights()]
        if shapes != [w.shape for w in source.get_weights()]:
            report.fresh.append(layer.name)
            continue
        layer.set_weights(source.get_weights())
        report.copied.append(layer.name)
    logging.info("warm start from %s: %s", base_model_dir, report.describe())
    return report
