"""Warm start: a freshly built model takes the weights of the last blessed model.

Layers are matched by name (every weighted layer of the domain models is named from
the config). A categorical embedding is remapped row by row through the two
vocabularies, because Transform orders a vocabulary by frequency and new data can
reorder it or add values: a value both vocabularies know keeps its trained row, a new
value keeps its fresh initialisation. Any other layer whose shapes changed (the config
changed the model) starts fresh and is reported.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

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


def read_vocabulary(path: str) -> list[str]:
    with tf.io.gfile.GFile(path) as source:
        return [line.rstrip("\n") for line in source]


def remap_rows(
    old: np.ndarray, new: np.ndarray, old_tokens: list[str], new_tokens: list[str]
) -> tuple[np.ndarray, int]:
    """`new` with each row of a token both vocabularies know taken from `old`; the
    out-of-vocabulary rows after the vocabulary keep their trained values when the
    number of OOV buckets is unchanged."""
    result = new.copy()
    old_index = {token: i for i, token in enumerate(old_tokens)}
    carried = 0
    for i, token in enumerate(new_tokens):
        if token in old_index:
            result[i] = old[old_index[token]]
            carried += 1
    old_oov, new_oov = len(old) - len(old_tokens), len(new) - len(new_tokens)
    if old_oov == new_oov and new_oov > 0:
        result[len(new_tokens) :] = old[len(old_tokens) :]
        carried += new_oov
    return result, carried


def warm_start(
    model: tf.keras.Model,
    base_model_dir: str,
    vocabularies: dict[str, str],
) -> WarmStartReport:
    """Copy the base model's weights into `model`. `vocabularies` maps an embedding
    layer's name to the file of the vocabulary it indexes now; the base model's own
    copy is read from its SavedModel assets."""
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
            old_vocabulary = os.path.join(
                base_model_dir, "assets", os.path.basename(vocabularies[layer.name])
            )
            if not tf.io.gfile.exists(old_vocabulary):  # rows would mean other values
                report.fresh.append(layer.name)
                continue
            (old,), (new,) = source.get_weights(), layer.get_weights()
            rows, carried = remap_rows(
                old,
                new,
                read_vocabulary(old_vocabulary),
                read_vocabulary(vocabularies[layer.name]),
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
