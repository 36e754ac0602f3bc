"""A tabular data set whose label depends on two of its eight features only: the
ground truth an explanation's faithfulness is checked against (the tests and the
explanation benchmark share it).

Six numbers and two categories of four values each, drawn independently; the label is
whether 2 * n0 + effect(c0) plus a little noise is positive. The numbers are drawn
already standardised and the categories as ids ordered by frequency, which is what
Transform hands the model, so a model trains on them without a pipeline.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.components.features import transformed_name
from aet.components.models.ft_transformer import TabularInputs, build_ft_transformer
from aet.config import ModelConfig

NUMERIC = [f"n{index}" for index in range(6)]
CATEGORICAL = {"c0": 4, "c1": 4}
INFORMATIVE = ("n0", "c0")
CATEGORY_FREQUENCIES = [0.4, 0.3, 0.2, 0.1]  # id 0 the most frequent, as TFT orders them
C0_EFFECT = np.array([0.0, 2.0, -2.0, 1.0])  # on the label's logit; the baseline's is 0
NOISE = 0.3


def two_feature_data(rows: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(model inputs by transformed name, [rows] labels 0/1)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, len(NUMERIC))).astype(np.float32)
    categorical = rng.choice(len(CATEGORY_FREQUENCIES), p=CATEGORY_FREQUENCIES, size=(rows, 2))
    logit = 2.0 * numeric[:, 0] + C0_EFFECT[categorical[:, 0]] + rng.normal(0, NOISE, rows)
    inputs = {transformed_name(name): numeric[:, [i]] for i, name in enumerate(NUMERIC)}
    inputs |= {
        transformed_name(name): categorical[:, [i]].astype(np.int64)
        for i, name in enumerate(CATEGORICAL)
    }
    return inputs, (logit > 0).astype(np.float32)


def train_two_feature_model(rows: int, epochs: int, seed: int) -> tf.keras.Model:
    """A small FT-Transformer fitted to `rows` rows of the data set."""
    tf.keras.utils.set_random_seed(seed)
    model = build_ft_transformer(
        TabularInputs(NUMERIC, CATEGORICAL),
        ModelConfig(embedding_dim=16, num_layers=1, num_heads=2, dropout=0.0),
        num_classes=2,
        input_name=transformed_name,
    )
    model.compile(tf.keras.optimizers.Adam(3e-3), "binary_crossentropy")
    inputs, labels = two_feature_data(rows, seed)
    model.fit(inputs, labels, epochs=epochs, batch_size=64, verbose=0)
    return model


def moved_first_share(features: list[str], c0_ids: np.ndarray, ranking: np.ndarray) -> float:
    """The share of rows whose informative features that differ from the baseline rank
    first in `ranking` ([rows, features] indices into `features`, best first): n0
    always, c0 unless at its most frequent value (id 0), where it moved nothing."""
    hits = []
    for ids, row in zip(c0_ids, ranking, strict=True):
        expected = {features.index("n0")} | ({features.index("c0")} if ids != 0 else set())
        hits.append(set(row[: len(expected)]) == expected)
    return float(np.mean(hits))
